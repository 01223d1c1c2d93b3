"""What every red-team variant shares: reporting its act, loopback guards, native helpers.

A variant is a script that performs one attack.  It either runs *inside* the
victim agent (injected through the agent's code tool, ``__name__ ==
"h7_injected"``, arguments in ``ARGS``) or as its own process (``python
variant.py '{json args}'``).  Either way it reports the act on stdout as one
line ``H7RT-ACT {json}`` with the CLOCK_REALTIME nanoseconds taken *just
before* the act, whether the act succeeded, and a detail string.  Stdout is
used, not a file, so that reporting adds no open/write of a new file to what
the sensor sees (the agent's stdout is its log, opened before the baseline).
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import ipaddress
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ACT_PREFIX = "H7RT-ACT "
#: printed by an injected variant when its code returns: the act (a miner's threads...) is over
DONE_LINE = "H7RT-DONE"

PTRACE_ATTACH, PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 16, 17, 0x4206, 0x4207
NR_PIDFD_OPEN, NR_PIDFD_GETFD, NR_PROCESS_VM_READV, NR_PROCESS_VM_WRITEV = 434, 438, 310, 311
NR_EXECVEAT, NR_MEMFD_CREATE = 322, 319
AT_EMPTY_PATH = 0x1000
RT_SQPOLL, RT_ASYNC, RT_SOCKET_OP, RT_SENDMSG = 1, 2, 4, 8


def now() -> int:
    """CLOCK_REALTIME in ns: the clock the certificates' ts_ns and sign_time_ns use."""
    return time.time_ns()


def report(act_ns: int, ok: bool, detail: str = "", **extra: Any) -> None:
    """Print the act record the harness collects (one line, flushed at once)."""
    rec = {"act_ns": int(act_ns), "ok": bool(ok), "detail": detail, "pid": os.getpid(), **extra}
    sys.stdout.write(ACT_PREFIX + json.dumps(rec, sort_keys=True) + "\n")
    sys.stdout.flush()


def loopback(host: str) -> str:
    """Refuse any destination outside 127.0.0.0/8 and ::1: the suite never leaves the host."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"red-team variants only send to loopback, not {host}")
    return host


def libc() -> ctypes.CDLL:
    lc = ctypes.CDLL(None, use_errno=True)
    lc.syscall.restype = ctypes.c_long
    lc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    lc.ptrace.restype = ctypes.c_long
    return lc


def native(args: dict[str, Any]) -> ctypes.CDLL:
    """The suite's shared object (built by the harness before the baseline), loaded in-process."""
    lib = ctypes.CDLL(str(args["native_so"]), use_errno=True)
    i, s = ctypes.c_int, ctypes.c_char_p
    lib.rt_uring_egress.argtypes = [i, s, i, i, s, i, i]
    lib.rt_uring_send_fd.argtypes = [i, s, i, i]
    lib.rt_sendmmsg_mixed.argtypes = [i, s, i, s, i, i, i]
    lib.rt_uring_unix_send.argtypes = [s, s, i]
    lib.rt_ptrace_int80.argtypes = [ctypes.c_long, ctypes.c_long]
    lib.rt_ptrace_int80.restype = ctypes.c_long
    # round 4
    cl, cp = ctypes.c_long, ctypes.POINTER(ctypes.c_char_p)
    lib.rt_uring_open_rw.argtypes = [s, ctypes.c_ulong, i]
    lib.rt_uring_write_file.argtypes = [s, s, cl]
    lib.rt_uring_sendmsg_zc.argtypes = [i, s, i, s, i]
    lib.rt_clone_parent_egress.argtypes = [i, s, i, s, i, i]
    lib.rt_clone_parent_exec.argtypes = [s, cp, cp]
    for fn in (
        "rt_uring_open_rw",
        "rt_uring_write_file",
        "rt_uring_sendmsg_zc",
        "rt_clone_parent_egress",
        "rt_clone_parent_exec",
    ):
        getattr(lib, fn).restype = cl
    return lib


def cstrings(items: list[str]) -> Any:
    """A NULL-terminated char*[] (argv/envp) for a native call; keep the result alive during it."""
    arr = (ctypes.c_char_p * (len(items) + 1))(*[x.encode() for x in items], None)
    return arr


def errno_name(rc: int) -> str:
    return os.strerror(-rc) if rc < 0 else "ok"


# ----------------------------------------------------------------- memory targets
class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


def writable_region(pid: int | str, proc: str = "/proc") -> tuple[int, int]:
    """(start, end) of a private writable mapping of ``pid`` (its heap if it has one)."""
    best: tuple[int, int] | None = None
    with open(f"{proc}/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if parts[1].startswith("rw") and parts[1].endswith("p"):
                if len(parts) > 5 and parts[5] == "[heap]":
                    return lo, hi
                if best is None:
                    best = (lo, hi)
    if best is None:
        raise OSError(f"no writable mapping in {proc}/{pid}/maps")
    return best


def target_addr(args: dict[str, Any], pid: int | str, proc: str = "/proc") -> int:
    """A writable address in the victim: given by the harness (read before the sensor attached, so
    the act is not preceded by a /proc/PID/maps read of its own), else found in its maps."""
    if args.get("addr"):
        return int(args["addr"])
    return writable_region(pid, proc)[0]


def target_sock_fd(args: dict[str, Any], pid: int | str, proc: str = "/proc") -> int:
    """The victim's held socket fd: given by the harness (the victim reports it), else looked up."""
    if args.get("sock_fd") is not None:
        return int(args["sock_fd"])
    return socket_fd_of(pid, proc)


def pvm(pid: int, addr: int, data: bytes | None, n: int = 64) -> tuple[int, bytes]:
    """process_vm_readv (data None) or process_vm_writev of ``pid``'s memory at ``addr``."""
    lc = libc()
    buf = ctypes.create_string_buffer(data if data is not None else n, len(data) if data is not None else n)
    local = _IoVec(ctypes.cast(buf, ctypes.c_void_p), len(buf.raw))
    remote = _IoVec(addr, len(buf.raw))
    nr = NR_PROCESS_VM_READV if data is None else NR_PROCESS_VM_WRITEV
    rc = lc.syscall(
        ctypes.c_long(nr),
        ctypes.c_long(pid),
        ctypes.byref(local),
        ctypes.c_ulong(1),
        ctypes.byref(remote),
        ctypes.c_ulong(1),
        ctypes.c_ulong(0),
    )
    if rc < 0:
        raise OSError(ctypes.get_errno(), f"process_vm_{'readv' if data is None else 'writev'}({pid})")
    return int(rc), buf.raw


def pidfd_open(pid: int) -> int:
    lc = libc()
    fd = lc.syscall(ctypes.c_long(NR_PIDFD_OPEN), ctypes.c_long(pid), ctypes.c_long(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"pidfd_open({pid})")
    return int(fd)


def pidfd_getfd(pidfd: int, target_fd: int) -> int:
    lc = libc()
    c = ctypes.c_long
    fd = lc.syscall(c(NR_PIDFD_GETFD), c(pidfd), c(target_fd), c(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"pidfd_getfd({target_fd})")
    return int(fd)


def socket_fd_of(pid: int | str, proc: str = "/proc") -> int:
    """The lowest fd of ``pid`` that is a socket (the victim holds one open on purpose)."""
    fds = []
    for e in os.listdir(f"{proc}/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"{proc}/{pid}/fd/{e}").startswith("socket:"):
                fds.append(int(e))
    if not fds:
        raise OSError(f"{pid} has no socket fd")
    return min(fds)


def ptrace(request: int, pid: int) -> int:
    lc = libc()
    rc = int(lc.ptrace(request, pid, None, None))
    if rc < 0:
        raise OSError(ctypes.get_errno(), f"ptrace({request}, {pid})")
    return rc


def wait_stopped(pid: int, seconds: float = 5.0) -> bool:
    """Wait (bounded) for a tracee to report its stop; False if it did not in time."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            wpid, _ = os.waitpid(pid, os.WNOHANG | 0x40000000)  # __WALL
        except ChildProcessError:
            return False
        if wpid == pid:
            return True
        time.sleep(0.005)
    return False


def passed_socket(broker_sock: str, ip: str, port: int) -> int:
    """A socket connected to ip:port by the harness's broker and passed in over SCM_RIGHTS.

    The variants that egress through it never connect in the agent's tree.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
        u.settimeout(5)
        u.connect(broker_sock)
        u.sendall(f"{ip} {port}\n".encode())
        fds = array.array("i")
        _, anc, _, _ = u.recvmsg(16, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    if not fds:
        raise OSError("the broker passed no fd")
    return int(fds[0])


def wait_exit(pid: int, seconds: float = 20.0) -> int:
    """Exit status of the forked child ``pid``, polled (bounded); -1 if it has not exited in time."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        wpid, st = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            return os.waitstatus_to_exitcode(st)
        time.sleep(0.01)
    return -1


def rewrite_mem(fd: int, addr: int, size: int = 32) -> int:
    """Read ``size`` bytes at ``addr`` through an open /proc/PID/mem ``fd``, write them back, close it.

    The act of every /proc/PID/mem variant: a real write into the target that
    leaves it as it was.  Returns the bytes written (``size`` when it went through).
    """
    try:
        return os.pwrite(fd, os.pread(fd, size, addr), addr)
    finally:
        os.close(fd)


def int80_attach(lib: ctypes.CDLL, pid: int) -> tuple[int, bool]:
    """PTRACE_ATTACH through the ia32 entry (rt.c's rt_ptrace_int80), detached again: (rc, seen stopped)."""
    rc = int(lib.rt_ptrace_int80(PTRACE_ATTACH, pid))
    stopped = rc == 0 and wait_stopped(pid)
    if rc == 0:
        libc().ptrace(PTRACE_DETACH, pid, None, None)
    return rc, stopped


NR_OPENAT2 = 437
RESOLVE_NO_MAGICLINKS = 0x02
PIDFD_THREAD = os.O_EXCL


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(path: str, flags: int, resolve: int = 0, dirfd: int = -100) -> int:
    """openat2(2) (no libc wrapper in glibc 2.36): a different syscall from open/openat."""
    lc = libc()
    how = _OpenHow(flags, 0, resolve)
    c = ctypes.c_long
    fd = lc.syscall(c(NR_OPENAT2), c(dirfd), ctypes.c_char_p(path.encode()), ctypes.byref(how), c(24))
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"openat2({path})")
    return int(fd)


def pidfd_open_flags(pid: int, flags: int) -> int:
    lc = libc()
    fd = lc.syscall(ctypes.c_long(NR_PIDFD_OPEN), ctypes.c_long(pid), ctypes.c_long(flags))
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"pidfd_open({pid}, {flags:#x})")
    return int(fd)


# --------------------------------------------------------------------- atd's spool
def atjob(marker: str, seed: int) -> tuple[str, str]:
    """(file name, script) of an atd job that is already due and touches ``marker``, as at(1) writes one.

    The name is ``a`` + a 5-hex job number (``seed`` + pid, so two variants never
    collide) + 8-hex minutes since the epoch, one minute ago: atd runs it on its
    next wake-up (a SIGHUP).
    """
    minutes = int(time.time() // 60) - 1
    name = f"a{seed + os.getpid() % 0x1000:05x}{minutes:08x}"
    return name, f"#!/bin/sh\n# atrun uid=0 gid=0\n# mail root 0\numask 22\ncd /\ntouch {marker}\n"


# --------------------------------------------------------------------- hand-built packets
def inet_checksum(b: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``b``: IPv4 headers and ICMP messages built by hand."""
    import struct

    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ipv4_udp(src: str, dst: str, sport: int, dport: int, payload: bytes, ident: int, frag: int = 0) -> bytes:
    """An IPv4 header (checksummed) + UDP header (checksum 0: none, valid over IPv4) + ``payload``."""
    import socket
    import struct

    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, 20 + len(udp), ident, frag, 64, socket.IPPROTO_UDP, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )  # fmt: skip
    return ip[:10] + struct.pack("!H", inet_checksum(ip)) + ip[12:] + udp


# --------------------------------------------------------------------- exec helpers
def copy_padded(src: str, dst: Path, pad: bytes = b"", patch_at: int | None = None) -> Path:
    """Copy an executable, optionally appending bytes or flipping one byte at an offset."""
    data = bytearray(Path(src).read_bytes())
    if patch_at is not None:
        data[patch_at] ^= 0x01
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bytes(data) + pad)
    os.chmod(dst, 0o755)
    return dst


def run_child(argv: list[str], timeout: float = 20.0, **kw: Any) -> int:
    """Run a program and wait (bounded); returns its exit status or -1 on timeout."""
    import subprocess

    try:
        return subprocess.run(argv, capture_output=True, timeout=timeout, check=False, **kw).returncode
    except subprocess.TimeoutExpired:
        return -1


def scaled(seconds: float) -> float:
    """``seconds`` stretched by H7_TEST_TIMESCALE (4 in a vmtest guest, 1 on the host).

    An act's own bound on how long a helper may take to answer is a fact of the
    machine, not of the attack: under TCG a node worker or a daemon's forked
    shell takes several times longer, and a fixed bound turns a slow act into a
    "not run" variant (round 8's fentry run, session 10: the node miner and the
    socat bind shell).
    """
    return seconds * float(os.environ.get("H7_TEST_TIMESCALE", "1"))


def wait_file(path: str | Path, seconds: float = 10.0) -> bool:
    """Wait (bounded, stretched by H7_TEST_TIMESCALE) for a daemon's command to create ``path``.

    The file is the proof the hand-off ran; its bound is the machine's pace (see scaled).
    """
    end = time.monotonic() + scaled(seconds)
    while time.monotonic() < end:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False


# --------------------------------------------------------------------- shared set-up
def fresh_dir(path: str | Path) -> Path:
    """An empty directory at ``path`` (whatever an earlier run left there is removed first).

    Variants re-run in the same workdir (dry run, then the real run): a stale file
    from a previous act must not change what this act does.
    """
    import shutil

    d = Path(path)
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def other_tid(pid: int, proc: str = "/proc") -> int:
    """A non-leader thread id of ``pid`` (the victims keep a second thread), else ``pid`` itself.

    Listing ``task/`` is a directory read, not one of the accesses L5 judges, so it
    does not stand in for the act that follows.
    """
    tids = sorted(int(x) for x in os.listdir(f"{proc}/{pid}/task") if int(x) != pid)
    return tids[0] if tids else pid


def pid_of_comm(comm: str) -> int | None:
    """The first host pid whose comm is ``comm`` (a daemon the harness or the host runs), or None."""
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                if Path(f"/proc/{e}/comm").read_text().strip() == comm:
                    return int(e)
            except OSError:
                continue
    return None


NR_CREAT = 85


def creat(path: str | Path, mode: int = 0o644) -> int:
    """creat(2) itself (syscall 85): the old single-purpose create call, not open/openat."""
    lc = libc()
    fd = lc.syscall(ctypes.c_long(NR_CREAT), ctypes.c_char_p(str(path).encode()), ctypes.c_long(mode))
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"creat({path})")
    return int(fd)


def keep_working(args: dict[str, Any], seconds: float, seed: int = 5) -> int:
    """Go on doing the agent's routine (ask the model API, run the benign tool, sleep) for ``seconds``.

    An injected act that lasts runs inside the agent's code tool, which blocks the
    agent's own loop; an attacker who wants to stay under a profile keeps the
    routine going meanwhile.  Same Agent code and API as the victim's own loop;
    only the benign tools are run (an injected ``python`` call is never taken).
    Returns the number of turns done.
    """
    from h7.demo.agent import Agent

    known = args["known"]
    agent = Agent(f"{loopback(known['ip'])}:{int(known['port'])}", Path(args["work"]), seed)
    end = time.monotonic() + seconds
    turns = 0
    while time.monotonic() < end and turns < 100_000:
        call = agent.ask()
        if call.get("tool") != "python":
            agent.run_tool(call)
        turns += 1
        time.sleep(agent.rng.uniform(0.1, 0.3))
    return turns


# --------------------------------------------------------------------- entry point
def main(run: Callable[[dict[str, Any]], None], scope: dict[str, Any]) -> None:
    """Run a variant: with the agent's ARGS when injected, with a JSON argv[1] otherwise."""
    injected = scope.get("__name__") == "h7_injected"
    if not injected and len(sys.argv) > 2 and sys.argv[1] == "--stage":
        scope["stage"](json.loads(sys.argv[2]))  # set-up before the victims start (STAGE = True)
        return
    if not injected and len(sys.argv) > 2 and sys.argv[1] == "--unstage":
        scope["unstage"](json.loads(sys.argv[2]))  # its clean-up when the harness stops
        return
    args = dict(scope.get("ARGS", {})) if injected else (json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
    try:
        run(args)
    except Exception as e:  # an injected variant must never take the victim agent down
        report(now(), False, f"variant raised {e!r}")
        if not injected:
            raise SystemExit(1) from e
    finally:
        if injected:
            sys.stdout.write(DONE_LINE + "\n")
            sys.stdout.flush()


# --------------------------------------------------------------------- round 6: staged receivers
def sink_argv(mode: str, *rest: str, script: str = "_r6_sink.py") -> list[str]:
    """The command line of a staging helper in redteam/variants/ (run outside the victims' trees).

    ``_r6_sink.py`` (receivers) or ``_r7_sink.py`` (round 7's collectors and command runners).
    """
    return [sys.executable, str(Path(__file__).resolve().parent / "variants" / script), mode, *rest]


def stage_daemon(argv: list[str], pidfile: Path, ready: Callable[[], bool], seconds: float = 10.0) -> None:
    """Start a staged helper in its own session (outside every victim's tree) and wait until it is ready.

    Staging runs before the victims start, so nothing the variant later
    measures with it (bytes received, a rewrite done) is the victim's own work.
    ``seconds`` is stretched by H7_TEST_TIMESCALE like every other wait: in a
    vmtest guest (TCG, timescale 4) a Node dev server took more than 10 s to
    print its inspector URL, and one helper not ready stops the whole run.
    """
    import subprocess

    seconds = scaled(seconds)

    p = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    pidfile.write_text(str(p.pid))
    end = time.monotonic() + seconds
    while time.monotonic() < end and not ready():
        if p.poll() is not None:
            raise OSError(f"staged helper {argv[2:]} exited with {p.returncode}")
        time.sleep(0.05)
    if not ready():
        raise OSError(f"staged helper {argv[2:]} not ready after {seconds:g} s")


def unstage_daemon(pidfile: Path) -> None:
    """Stop a helper started by stage_daemon (its whole session) and forget its pid."""
    import signal

    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
            os.killpg(int(pidfile.read_text()), signal.SIGTERM)
        pidfile.unlink(missing_ok=True)


def wait_count(countfile: Path, at_least: int, seconds: float = 10.0) -> int:
    """Wait (bounded) until a staged receiver's byte count reaches ``at_least``; returns the count."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        with contextlib.suppress(OSError, ValueError):
            n = int(countfile.read_text() or 0)
        if n >= at_least:
            return n
        time.sleep(0.05)
    return n


# --------------------------------------------------------------------- round 8: new kernel objects
NR_OPEN_TREE, NR_FSOPEN, NR_FSCONFIG, NR_FSMOUNT = 428, 430, 431, 432
OPEN_TREE_CLONE, FSCONFIG_CMD_CREATE = 1, 6


def _sys(nr: int, *a: Any) -> int:
    """A raw syscall through libc's syscall(2); OSError with the errno when it fails."""
    lc = libc()
    rc = int(lc.syscall(ctypes.c_long(nr), *a))
    if rc < 0:
        raise OSError(ctypes.get_errno(), f"syscall {nr}")
    return rc


def detached_proc(how: str) -> int:
    """A directory fd of a procfs that is in NO mount table: no path ever names it.

    ``fsmount``: a new procfs instance from the new mount API (fsopen, fsconfig
    CREATE, fsmount), of the caller's PID namespace.  ``open_tree``: a detached
    clone of the mount at /proc (``open_tree(OPEN_TREE_CLONE)``).  Either way,
    ``openat(fd, "PID/mem")`` reaches a process's memory with a path that has
    no ``/proc`` in it and a dirfd that was never opened by path.
    """
    c = ctypes.c_long
    if how == "open_tree":
        return _sys(NR_OPEN_TREE, c(-100), ctypes.c_char_p(b"/proc"), c(OPEN_TREE_CLONE | os.O_CLOEXEC))
    if how != "fsmount":
        raise ValueError(how)
    fsfd = _sys(NR_FSOPEN, ctypes.c_char_p(b"proc"), c(0))
    try:
        _sys(NR_FSCONFIG, c(fsfd), c(FSCONFIG_CMD_CREATE), None, None, c(0))
        return _sys(NR_FSMOUNT, c(fsfd), c(0), c(0))
    finally:
        os.close(fsfd)


NR_PERF_EVENT_OPEN = 298
PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, PERF_COUNT_SW_TASK_CLOCK = 1, 0, 1
PERF_SAMPLE_TID, PERF_SAMPLE_REGS_USER, PERF_SAMPLE_STACK_USER = 0x2, 0x1000, 0x2000
PERF_RECORD_SAMPLE = 9


class _PerfAttr(ctypes.Structure):
    """struct perf_event_attr up to sample_stack_user (PERF_ATTR_SIZE_VER5, 112 bytes)."""

    _fields_ = [
        ("type", ctypes.c_uint32), ("size", ctypes.c_uint32), ("config", ctypes.c_uint64),
        ("sample_period", ctypes.c_uint64), ("sample_type", ctypes.c_uint64),
        ("read_format", ctypes.c_uint64), ("flags", ctypes.c_uint64), ("wakeup_events", ctypes.c_uint32),
        ("bp_type", ctypes.c_uint32), ("config1", ctypes.c_uint64), ("config2", ctypes.c_uint64),
        ("branch_sample_type", ctypes.c_uint64), ("sample_regs_user", ctypes.c_uint64),
        ("sample_stack_user", ctypes.c_uint32), ("clockid", ctypes.c_int32),
        ("sample_regs_intr", ctypes.c_uint64),
    ]  # fmt: skip


def perf_user_stack(pid: int, seconds: float = 1.0, stack: int = 8192) -> tuple[int, int]:
    """Sample ``pid``'s user stack with perf_event_open (no ptrace, no /proc): (samples, stack bytes read).

    A task-clock sampling event on another process, with PERF_SAMPLE_STACK_USER:
    at every sample the kernel copies up to ``stack`` bytes of the target's user
    stack (and its user registers) into a ring buffer the caller maps.  That is
    a read of the target's memory by a process that never attached to it.
    """
    import mmap
    import struct

    attr = _PerfAttr()
    attr.type, attr.size, attr.config = PERF_TYPE_SOFTWARE, ctypes.sizeof(_PerfAttr), PERF_COUNT_SW_TASK_CLOCK
    attr.sample_period = 1_000_000  # every 1 ms of the target's CPU time
    attr.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER
    attr.sample_regs_user = 0xFF  # ax..di
    attr.sample_stack_user = stack
    attr.flags = 1 << 5 | 1 << 6  # exclude_kernel, exclude_hv (allowed at perf_event_paranoid 2)
    attr.wakeup_events = 1
    c = ctypes.c_long
    fd = _sys(NR_PERF_EVENT_OPEN, ctypes.byref(attr), c(pid), c(-1), c(-1), c(0))
    pages = 1 + 64
    try:
        ring = mmap.mmap(fd, pages * mmap.PAGESIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError:
        os.close(fd)
        raise
    try:
        time.sleep(seconds)
        head = struct.unpack_from("<Q", ring, 1024)[0]  # data_head
        data_off, size = mmap.PAGESIZE, (pages - 1) * mmap.PAGESIZE
        pos, samples, copied = 0, 0, 0
        while pos < min(head, size) and samples < 10_000:
            rtype, _misc, rsize = struct.unpack_from("<IHH", ring, data_off + pos % size)
            if rsize == 0:
                break
            if rtype == PERF_RECORD_SAMPLE:
                # pid, tid (8) | abi (8) + 8 regs (64) | stack size (8), data, dyn_size (8): dyn_size is
                # how much of the reserved ``size`` bytes the kernel really copied from the stack
                at = pos + 8 + 8 + 8 + 64
                n = struct.unpack_from("<Q", ring, data_off + at % size)[0]
                if n:
                    copied += struct.unpack_from("<Q", ring, data_off + (at + 8 + n) % size)[0]
                samples += 1
            pos += rsize
        return samples, copied
    finally:
        ring.close()
        os.close(fd)


def build_tool(source: str, out: Path) -> Path:
    """Compile ``redteam/native/<source>`` with gcc into ``out`` (a planted program, built at stage time)."""
    import subprocess

    out.parent.mkdir(parents=True, exist_ok=True)
    src = Path(__file__).resolve().parent / "native" / source
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", str(out), str(src)], check=True, timeout=120)
    return out


def detached_mem_rewrite(args: dict[str, Any], how: str) -> tuple[int, int, int]:
    """Rewrite 32 bytes of the target's heap through ``PID/mem`` of a detached procfs (detached_proc).

    Returns (act_ns, bytes written, address): the act is the mem open, taken
    after the detached tree exists.
    """
    pid, addr = int(args["pid"]), target_addr(args, args["pid"])
    tree = detached_proc(how)
    try:
        t = now()
        n = rewrite_mem(os.open(f"{pid}/mem", os.O_RDWR, dir_fd=tree), addr)
    finally:
        os.close(tree)
    return t, n, addr


def run_touch(argv: list[str], marker: str) -> tuple[int, int, bool]:
    """Run ``argv + ["touch 'MARKER'"]`` (a shell's ``-c`` form), wait for the marker: (act_ns, rc, made)."""
    t = now()
    rc = run_child([*argv, f"touch '{marker}'"])
    return t, rc, wait_file(marker, 5)


#: a git identity and no system config: git commits in a scratch repository, the same on every host
GIT_ENV = {
    "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@localhost", "GIT_COMMITTER_NAME": "dev",
    "GIT_COMMITTER_EMAIL": "dev@localhost", "GIT_CONFIG_NOSYSTEM": "1", "GIT_PAGER": "cat",
}  # fmt: skip


def git(cwd: str | Path, *a: str, home: str | Path) -> int:
    """Run one git command in ``cwd`` with GIT_ENV and HOME=``home`` (bounded); its exit status."""
    env = {**os.environ, **GIT_ENV, "HOME": str(home)}
    return run_child(["git", *a], timeout=120, cwd=str(cwd), env=env)


def post_json(host: str, port: int, path: str, body: str) -> bytes:
    """One HTTP POST of a JSON body to a loopback API on a fresh connection; the response body."""
    import http.client

    conn = http.client.HTTPConnection(loopback(host), port, timeout=10)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        return conn.getresponse().read()
    finally:
        conn.close()


# --------------------------------------------------------------------- round 9: syscall oracles, cgroups
NR_MOVE_PAGES, NR_GET_ROBUST_LIST, NR_KCMP, NR_IOPRIO_SET, NR_IOPRIO_GET = 279, 274, 312, 251, 252
KCMP_FILE = 0


def memory_oracle(pid: int, addr: int, fds: int = 4) -> dict[str, Any]:
    """What another process's memory and files look like, asked of the kernel by pid, no ptrace or /proc.

    ``get_robust_list(pid)``: the address of its main thread's robust-futex
    list head (inside its TLS: an ASLR leak, the way ``auxv`` is);
    ``move_pages(pid, ..., nodes=NULL)``: per page, the NUMA node it is
    resident on or ``-EFAULT``/``-ENOENT`` -- which of its addresses are
    mapped and resident, the answer ``pagemap`` gives; ``kcmp(KCMP_FILE)``: whether its fds 0..N
    are the very files this process holds.  Each is gated by a read-level
    ptrace access check only.  Returns what each answered.
    """
    lc = libc()
    c = ctypes.c_long
    head, size = ctypes.c_void_p(0), ctypes.c_size_t(0)
    rc = lc.syscall(c(NR_GET_ROBUST_LIST), c(pid), ctypes.byref(head), ctypes.byref(size))
    out: dict[str, Any] = {"robust_list_head": (head.value or 0) if rc == 0 else -ctypes.get_errno()}
    page = os.sysconf("SC_PAGE_SIZE")
    probes = [addr & ~(page - 1), (addr & ~(page - 1)) + 64 * page, 0x10000, (head.value or 0) & ~(page - 1)]
    n = len(probes)
    pages = (ctypes.c_void_p * n)(*probes)
    status = (ctypes.c_int * n)()
    rc = lc.syscall(c(NR_MOVE_PAGES), c(pid), c(n), pages, None, status, c(0))
    out["move_pages"] = list(status) if rc == 0 else -ctypes.get_errno()
    same = []
    for fd in range(fds):
        r = lc.syscall(c(NR_KCMP), c(os.getpid()), c(pid), c(KCMP_FILE), c(fd), c(fd))
        same.append(int(r) if r >= 0 else -ctypes.get_errno())
    out["kcmp_file"] = same
    return out


def cgroup_dir(controller: str) -> Path | None:
    """The root of a hierarchy with ``controller``: its v1 mount, else the v2 root if that enables it."""
    v1 = Path("/sys/fs/cgroup") / controller
    if (v1 / "cgroup.procs").exists():
        return v1
    v2 = Path("/sys/fs/cgroup")
    with contextlib.suppress(OSError):
        if controller in (v2 / "cgroup.subtree_control").read_text().split():
            return v2
    return None


def cgroup_of(pid: int | str, root: Path) -> Path:
    """The cgroup directory of ``pid`` in the hierarchy mounted at ``root`` (from /proc/PID/cgroup)."""
    ctl = root.name if root != Path("/sys/fs/cgroup") else ""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if (ctl and ctl in ctrls.split(",")) or (not ctl and ctrls == ""):
            return root / path.lstrip("/")
    raise OSError(f"{pid} has no cgroup in {root}")


# --------------------------------------------------------------------- round 10
def r10_lib_path(work: str | Path) -> Path:
    """Where round 10's native library lives: next to the harness's own ``bin/librt_h7.so``."""
    return Path(work).parent / "bin" / "librt10.so"


def build_r10_lib(work: str | Path) -> Path:
    """Compile ``native/r10_lib.c`` (it includes rt.c) into ``bin/librt10.so`` at stage time.

    Staged, not built by the act: a gcc run inside the agent would be an exec of
    its own, seen in place of the act.  Written under a temporary name and
    renamed, so several variants staging it never load a half-written file.
    """
    import subprocess

    out = r10_lib_path(work)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".librt10.{os.getpid()}.so")
    src = Path(__file__).resolve().parent / "native" / "r10_lib.c"
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-Werror", "-fPIC", "-shared", "-o", str(tmp), str(src)],
        check=True,
        timeout=120,
    )
    os.replace(tmp, out)
    return out


def r10_lib(work: str | Path) -> ctypes.CDLL:
    """Load the staged round-10 library with its prototypes set."""
    lib = ctypes.CDLL(str(r10_lib_path(work)), use_errno=True)
    lib.rt10_uring_tfo.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.rt10_uring_tfo.restype = ctypes.c_int
    lib.rt10_int80.argtypes = [ctypes.c_long] * 5
    lib.rt10_int80.restype = ctypes.c_long
    return lib


def proc_state(pid: int | str, proc: str = "/proc") -> str:
    """The one-letter scheduler state of ``pid`` (``T`` stopped), from /proc/PID/stat; "" if gone."""
    try:
        stat = Path(f"{proc}/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[0]


def wait_state(pid: int | str, want: str, seconds: float = 3.0, proc: str = "/proc") -> bool:
    """Wait (bounded, scaled by H7_TEST_TIMESCALE) until ``pid``'s state is ``want`` (``!X``: is not X)."""
    end = time.monotonic() + scaled(seconds)
    while time.monotonic() < end:
        s = proc_state(pid, proc)
        if (s != want[1:]) if want.startswith("!") else (s == want):
            return True
        time.sleep(0.02)
    return False
