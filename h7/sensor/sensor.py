"""The live sensor: load the programs, scope them to the agents, turn rings into Batches.

Data path per wakeup::

    event_ring --epoll--> C drain --> decode_events --> on_events (urgent path)
    sys_ring   --epoll--> C drain --> numpy copy      --> on_syscalls (kept for the batch)
    agent_stats/ring_stats maps --> per-batch deltas  (at each batch boundary)

The kernel forces a wakeup for exec, connect and ptrace records and for any
ring that is a quarter full; everything else waits for the next wakeup or the
batch boundary.  An idle agent therefore costs a handful of wakeups a second,
and a burst can never fill a ring while the sensor sleeps.

Syscall records never become Python objects; discrete events (fork, exec,
open, connect, ptrace) do, because they are rare and every consumer wants
them as mappings.  Once an agent's baseline is learnt, the detector hands
the sensor the syscall windows it does not need to see again
(:meth:`Sensor.set_sequence_filter`) and the kernel stops shipping them, so
a busy agent in steady state costs a ring record per *unusual* syscall, not
per syscall.
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import logging
import os
import platform
import select
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from h7.batch import AgentInfo, Batch, Event
from h7.decode import (
    ACCESS_FENTRY,
    ACCESS_SYSCALL,
    AGENT_CFG_DTYPE,
    EGRESS_CGROUP,
    EGRESS_FENTRY,
    EGRESS_SYSCALL,
    EVENT_RING_BYTES,
    EVENT_SIZE,
    EXEC_FENTRY,
    EXEC_SYSCALL,
    HANDOFF_FENTRY,
    HANDOFF_SYSCALL,
    HDR_SIZE,
    HOOK_CFG_DTYPE,
    MAX_AGENTS,
    PID_LIMIT,
    RECV_STATE_SLOTS,
    RECV_UNTIL,
    RECV_WINDOW,
    RING_EVENTS,
    RING_NAMES,
    RING_SCRATCH,
    RING_STATS_DTYPE,
    RING_SYS,
    RUN_BASE,
    RUN_DTYPE,
    RUN_ON,
    SCOPE_DTYPE,
    SCOPE_RT,
    STATS_DTYPE,
    SYS_DTYPE,
    SYS_RING_BYTES,
    WRITTEN_FENTRY,
    WRITTEN_SYSCALL,
    XMAP_FENTRY,
    XMAP_SYSCALL,
    decode_events,
)
from h7.errors import BPFError, PermissionDenied, UsageError
from h7.sensor import procfs
from h7.sensor.libbpf import (
    BpfObject,
    Link,
    Map,
    Program,
    RingBuffer,
    btf_names_absent,
    possible_cpus,
    probe_btf_type,
)
from h7.sensor.libbpf import recent_messages as libbpf_messages
from h7.sensor.seqfilter import SeqBits, expected_false_positive_rate, false_positive_rate, new_seed
from h7.sensor.simdcheck import numpy_simd_check

log = logging.getLogger("h7.sensor")

TRACEFS = Path("/sys/kernel/tracing")
BTF_VMLINUX = Path("/sys/kernel/btf/vmlinux")

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


@dataclass
class SensorConfig:
    """Ring sizes and polling.

    The kernel wakes the sensor when a ring is a quarter full, so a ring only
    has to absorb what arrives during one wakeup's latency: 4 MiB is ~0.65 s of
    a 200k syscalls/s agent.  Rings are mapped twice (for wrap-around), so each
    MiB here can cost two of RSS.  ``poll_ms`` bounds how long the sensor
    sleeps without any wakeup (it also bounds how long a stop request waits).
    """

    sys_ring_bytes: int = SYS_RING_BYTES
    event_ring_bytes: int = EVENT_RING_BYTES
    sys_batch_records: int = 1 << 16
    event_batch_records: int = 2048
    poll_ms: int = 250
    #: auto: fentry where the kernel loads it, else tracepoint/cgroup programs;
    #: tracepoint: never fentry; syscall: sys_enter arguments only (no fentry, no cgroup).
    hook_mode: str = field(default_factory=lambda: os.environ.get("H7_HOOK_MODE", "auto"))
    #: cgroup v2 directory the cgroup hooks attach to; "" = the root of the cgroup v2
    #: hierarchy (every process is below it), found in mountinfo or mounted privately.
    cgroup_path: str = ""

    def validate(self) -> None:
        if self.hook_mode not in HOOK_MODES:
            raise UsageError(f"hook_mode={self.hook_mode!r}: choose one of {', '.join(HOOK_MODES)}")
        page = os.sysconf("SC_PAGE_SIZE")
        for name in ("sys_ring_bytes", "event_ring_bytes"):
            v = getattr(self, name)
            if v < page or v & (v - 1):
                raise UsageError(f"{name}={v}: a ring buffer size must be a power of two >= {page}")


HOOK_MODES = ("auto", "tracepoint", "syscall")
#: the poll timeout between two steps of idle-time work (``Sensor.run`` ``on_idle``): events
#: are drained between steps, and the steps are done within tens of ms of the batch
IDLE_POLL_S = 0.002


def optional_kind(section: str) -> str | None:
    """Kind of an optional program (the sensor runs without it), None for a core one."""
    if section.startswith(("fentry/", "fexit/", "lsm/")):
        return "fentry"
    if section.startswith("cgroup/"):
        return "cgroup"
    if section in OPTIONAL_TRACEPOINTS:
        return "tracepoint"
    return None


#: BTF name libbpf resolves each BTF-attached section's target by (prefix + the section's tail)
BTF_TARGET_PREFIX = {"fentry/": "", "fexit/": "", "lsm/": "bpf_lsm_", "tp_btf/": "btf_trace_"}


def prescreen(programs: list[Program], off: dict[str, str]) -> None:
    """Switch off, before the first load, the optional programs this kernel refuses for certain.

    libbpf loads an object all or nothing, and learning a refusal from a
    load costs that whole load: the vmlinux BTF parse, every map, every
    CO-RE relocation, and the verification of every program before the
    refused one (measured here: ~110-200 ms per failed round, two of them
    on this host: fentry refused, and the io_uring tracepoint of the other
    kernel generation).  Two cheap facts decide the same ahead:
    a kernel that refuses the fentry/lsm program *type* (one trivial load,
    the rule of an EPERM in :meth:`Sensor._load_rounds`), and a target
    name that is no string of the kernel's BTF.  Anything else still
    surfaces at load time, as before.
    """
    cand = [p for p in programs if p.name not in off and optional_kind(p.section) is not None]
    refused: dict[bool, int] = {}
    for p in cand:
        if optional_kind(p.section) != "fentry":
            continue
        lsm = p.section.startswith("lsm/")
        if lsm not in refused:
            refused[lsm] = probe_btf_type(lsm)
        if refused[lsm] in (errno_mod.EPERM, errno_mod.EACCES):
            off[p.name] = (
                f"{errno_name(refused[lsm])}: the kernel refuses {'lsm' if lsm else 'fentry/fexit'} "
                "programs (type probe before loading)"
            )
    targets: dict[str, str] = {}
    for p in cand:
        if p.name in off:
            continue
        prefix, _, tail = p.section.partition("/")
        if f"{prefix}/" in BTF_TARGET_PREFIX and tail.isidentifier():
            targets[p.name] = BTF_TARGET_PREFIX[f"{prefix}/"] + tail
    absent = btf_names_absent(set(targets.values()))
    for name, target in targets.items():
        if target in absent:
            off[name] = f"ESRCH: {target} is not in this kernel's BTF (checked before loading)"
    for p in cand:
        if p.name in off:
            log.info("BPF program %s (%s) not loaded: %s", p.name, p.section, off[p.name])


def mode_allows(mode: str, kind: str) -> bool:
    if mode == "syscall":
        return kind == "tracepoint"
    if mode == "tracepoint":
        return kind != "fentry"
    return True


#: io_uring's submit tracepoint (6.1 names it io_uring_submit_sqe): tracepoint mode's view of
#: io_uring requests (no syscall shows them); each kernel loads one of the two programs.
URING_PROGRAMS = ("h7_tp_uring_submit", "h7_tp_uring_submit_sqe")
#: the exits of the open syscalls: the file an open returned, judged by its procfs inode's task
#: (per-syscall tracepoints: a kernel without CONFIG_FTRACE_SYSCALLS lacks them, the sensor runs on)
OPEN_EXIT_PROGRAMS = ("h7_tp_exit_openat", "h7_tp_exit_open", "h7_tp_exit_openat2")
#: the exits of recvmsg/recvmmsg: the regular files an SCM_RIGHTS message installed into a watched
#: process (L3's read edge of a file it never opened); the same tracepoints in both modes, core to
#: no gap: without them (no CONFIG_FTRACE_SYSCALLS) the sensor runs, blind to received files
RECV_EXIT_PROGRAMS = (
    "h7_tp_exit_recvmsg",
    "h7_tp_exit_recvmmsg",
    "h7_tp_exit_open_by_handle",  # a file opened by its handle: no path
    "h7_tp_exit_pidfd_getfd",  # a file pulled from another process's table
)
#: the exit of io_submit: Linux AIO writes into a socket (tracepoint mode's egress; fentry mode's
#: inet_sendmsg sees them), read from the caller's control blocks; optional like the other exits
AIO_EXIT_PROGRAMS = ("h7_tp_exit_io_submit",)
#: the exits of shmget/shmat/shmdt: SysV shared-memory segments as L3 nodes (same terms)
SHM_EXIT_PROGRAMS = ("h7_tp_exit_shmget", "h7_tp_exit_shmat", "h7_tp_exit_shmdt")
#: the entries of sendfile and copy_file_range: an agent-written file's mark carried to its copy,
#: whoever copies it (L2's exec identity of a laundered drop); optional like the other syscall tracepoints
COPY_ENTER_PROGRAMS = ("h7_tp_enter_sendfile", "h7_tp_enter_copy_file_range")
#: tp_btf programs the sensor can run without (they refine, they do not see), and the open exits.
OPTIONAL_TRACEPOINTS = {
    "tp_btf/inet_sock_set_state",
    "tp_btf/io_uring_submit_req",
    "tp_btf/io_uring_submit_sqe",
    "tracepoint/syscalls/sys_exit_openat",
    "tracepoint/syscalls/sys_exit_open",
    "tracepoint/syscalls/sys_exit_openat2",
    "tracepoint/syscalls/sys_exit_recvmsg",
    "tracepoint/syscalls/sys_exit_recvmmsg",
    "tracepoint/syscalls/sys_exit_open_by_handle_at",
    "tracepoint/syscalls/sys_exit_pidfd_getfd",
    "tracepoint/syscalls/sys_exit_shmget",
    "tracepoint/syscalls/sys_exit_shmat",
    "tracepoint/syscalls/sys_exit_shmdt",
    "tracepoint/syscalls/sys_exit_io_submit",
    "tracepoint/syscalls/sys_enter_sendfile64",
    "tracepoint/syscalls/sys_enter_copy_file_range",
    "tp_btf/cgroup_attach_task",
    "tp_btf/signal_generate",
}


#: the `hook` of a held mem fd found at attach: userspace read it from /proc, no kernel hook saw it
HELD_SCAN_HOOK = "attach scan (/proc/*/fd)"


@dataclass(frozen=True)
class Gap:
    """One kernel-visibility gap of issue 13 and the programs that close it in each mode.

    ``fentry``: the programs of its fentry mode, all of which must attach;
    ``tracepoint``: optional programs of its tracepoint mode (empty: sys_enter
    alone); ``cfg_field``/``values``: the h7_hook_cfg field telling the kernel
    which mode is live (mode name -> value), so sys_enter never duplicates a
    live hook.  Engineers adding a gap append to GAPS (see docs/architecture.md).
    """

    name: str
    issue_gap: int
    what: str
    fentry: tuple[str, ...]
    tracepoint: tuple[str, ...] = ()
    cfg_field: str | None = None
    values: dict[str, int] = field(default_factory=dict)
    #: programs outside any gap's set that also serve it when it is not in fentry mode
    #: (io_uring's submit tracepoint): named among its hooks when attached, never required
    also: tuple[str, ...] = ()
    #: False: outside fentry mode nothing sees this gap (sys_enter has no syscall to read: the use
    #: of an already-open file); its hooks are then empty, so `h7 doctor` does not claim sys_enter
    fallback_sees: bool = True

    def modes(self) -> list[tuple[str, tuple[str, ...]]]:
        """(mode, its programs), most capable first: the sensor runs the gap in the first that attaches.

        No fentry programs: no fentry mode.  The tracepoint mode always
        exists: with no programs of its own it is sys_enter alone.
        """
        return [*([("fentry", self.fentry)] if self.fentry else []), ("tracepoint", self.tracepoint)]


GAPS: list[Gap] = [
    Gap(
        "egress",
        1,
        "connects and sends outside connect/sendto/sendmsg (io_uring, sendmmsg per message)",
        fentry=("h7_fe_stream_connect", "h7_fe_dgram_connect", "h7_fe_inet_sendmsg", "h7_fe_inet6_sendmsg"),
        tracepoint=("h7_cg_connect4", "h7_cg_connect6", "h7_cg_sendmsg4", "h7_cg_sendmsg6"),
        cfg_field="egress",
        values={"fentry": EGRESS_FENTRY, "tracepoint": EGRESS_CGROUP, "syscall": EGRESS_SYSCALL},
        also=URING_PROGRAMS + AIO_EXIT_PROGRAMS,
    ),
    # AF_PACKET: frames handed to a link below IP; no inet hook runs and no cgroup hook exists for
    # them.  fentry: packet_sendmsg itself; else send/write syscalls at sys_enter + io_uring sends.
    Gap(
        "link_egress",
        1,
        "frames sent on AF_PACKET sockets (below IP: the link is the destination)",
        fentry=("h7_fe_packet_sendmsg", "h7_fe_packet_sendmsg_spkt"),
        cfg_field="packet",
        values={"fentry": EGRESS_FENTRY, "tracepoint": EGRESS_SYSCALL, "syscall": EGRESS_SYSCALL},
        also=URING_PROGRAMS,
    ),
    Gap(
        "tampering",
        2,
        "process_vm_readv/writev, /proc/<pid>/mem|maps, pidfd_getfd, ptrace attach "
        "(process_madvise, prlimit, perf_event_open on a task, sched_*/setpriority/ioprio_set/"
        "migrate_pages, get_robust_list/move_pages/kcmp: sys_enter in both modes)",
        fentry=("h7_fe_ptrace_access",),
        cfg_field="access",
        values={"fentry": ACCESS_FENTRY, "tracepoint": ACCESS_SYSCALL, "syscall": ACCESS_SYSCALL},
        also=URING_PROGRAMS,
    ),
    # /proc/<pid>/environ (API keys): the file's own open in fentry mode (any path, dirfd, io_uring),
    # the open's path at sys_enter otherwise; reported with the caller's sweep count (L5 ignores `ps`).
    Gap(
        "environ",
        2,
        "/proc/<pid>/environ opens, told apart from a ps-style sweep of every process",
        fentry=("h7_fe_environ_open",),
        cfg_field="environ",
        values={"fentry": ACCESS_FENTRY, "tracepoint": ACCESS_SYSCALL, "syscall": ACCESS_SYSCALL},
        also=URING_PROGRAMS,
    ),
    # The USE of a /proc/<pid>/mem fd: the access check ran at its open, maybe before h7 attach
    # (red-team round 8's pre-attach fd) or in the agent itself (an fd handed out).  fentry: every
    # read/write of a mem file.  Tracepoint mode: no tracepoint runs at a mem file's read/write, so
    # only the fds the attach-time /proc scan found (Sensor._scan_held) are watched, at sys_enter
    # (their holders' read/write family, and those holders' forks); an fd passed over after attach
    # is not (docs/detection.md L5, cannot see).
    Gap(
        "mem_fd_use",
        2,
        "reads and writes through a /proc/<pid>/mem fd opened before attach or passed over "
        "(tracepoint mode: fds found open at attach, read/write family at sys_enter)",
        fentry=("h7_fe_mem_rw",),
    ),
    # A per-process /proc file reached by a path that does not spell /proc/<pid> (chroot into
    # /proc, /dev/fd/../.., a bind mount of /proc/<pid>, a container's procfs): the open's exit
    # reads the returned file's procfs inode (its task) and name; both modes, three programs or none.
    Gap(
        "proc_files",
        2,
        "/proc/<pid> files by the task of the inode an open returned (mem, maps, environ, syscall, auxv, "
        "pagemap, stack; any of them opened for writing), whatever path named them",
        fentry=(),
        tracepoint=OPEN_EXIT_PROGRAMS,
    ),
    # A move of an agent task into another cgroup (a cpu.max cap, a freezer: red-team round 9),
    # written to cgroup.procs: no syscall argument names it; the migration's tracepoint does, in
    # every mode (no fentry mode: the same hook would be used).
    Gap(
        "cgroup_moves",
        2,
        "an agent task moved into another cgroup by another process (cgroup.procs, any namespace)",
        fentry=(),
        tracepoint=("h7_tp_cgroup_attach",),
    ),
    # A stop/kill/forged-fault signal sent to an agent task (red-team round 10): kill, tgkill,
    # pidfd_send_signal, a /proc dirfd or a namespace pid all end at the kernel's signal_generate
    # tracepoint, in every mode (no fentry mode: the same point).
    Gap(
        "signals",
        2,
        "a stop/kill/forged-fault signal sent to an agent task by another process (any syscall, pidfd, "
        "namespace)",
        fentry=(),
        tracepoint=("h7_tp_signal_generate",),
    ),
    Gap(
        "pid_namespaces",
        3,
        "a pid named inside the agent's PID namespace matched to the host task",
        fentry=("h7_fe_ptrace_access",),
        also=URING_PROGRAMS,
    ),
    # kexec: the executed file's identity is always read at tp_btf/sched_process_exec; what
    # the mode decides is where a #! script's own file is read before its interpreter replaces it.
    Gap(
        "exec_identity",
        4,
        "memfd/anonymous/deleted/agent-written files run, scripts before the interpreter swap",
        fentry=("h7_fe_bprm_check",),
        cfg_field="exec",
        values={"fentry": EXEC_FENTRY, "tracepoint": EXEC_SYSCALL, "syscall": EXEC_SYSCALL},
    ),
    # "the agent wrote this file" (exec identity) is filled where a writable file is closed:
    # close/dup2/dup3 at sys_enter always, and the files still open at a process's exit
    # (sched_process_exit, both modes); fentry: filp_close (io_uring CLOSE, close_range,
    # O_CLOEXEC at exec); else io_uring CLOSE at its submit tracepoint.  The same places mark a
    # relay holder's writes (a userspace copy of an agent's file made outside it) and a
    # long-running copier's same-size writes (recorded at its open exits, both modes).
    Gap(
        "written_files",
        4,
        "files the agent wrote, closed outside close(2) (io_uring CLOSE, close_range, exec's O_CLOEXEC)",
        fentry=("h7_fe_filp_close",),
        cfg_field="written",
        values={"fentry": WRITTEN_FENTRY, "tracepoint": WRITTEN_SYSCALL, "syscall": WRITTEN_SYSCALL},
        also=URING_PROGRAMS,
    ),
    # Agent-written code mapped executable inside a trusted program (dlopen, LD_PRELOAD, a gconv
    # module): mmap/mprotect with PROT_EXEC at sys_enter (the fd's / the range's file) always;
    # fentry: the LSM hooks every mapping passes (the kernel's own mappings too).
    Gap(
        "exec_mappings",
        4,
        "files the agent wrote mapped executable by its processes (dlopen, LD_PRELOAD), gone in ms",
        fentry=("h7_fe_mmap_file", "h7_fe_file_mprotect"),
        cfg_field="mapexec",
        values={"fentry": XMAP_FENTRY, "tracepoint": XMAP_SYSCALL, "syscall": XMAP_SYSCALL},
    ),
    Gap(
        "handoffs",
        5,
        "unix-socket connects and datagrams to daemons that run commands (io_uring connects too)",
        fentry=("h7_fx_unix_connect", "h7_fe_unix_may_send"),
        cfg_field="handoff",
        values={"fentry": HANDOFF_FENTRY, "tracepoint": HANDOFF_SYSCALL, "syscall": HANDOFF_SYSCALL},
        also=URING_PROGRAMS,  # tracepoint mode: an io_uring CONNECT of a unix socket (session 16)
    ),
]


@dataclass
class HookStatus:
    program: str
    section: str
    state: str  # attached | skipped | failed
    detail: str = ""


class AgentCapacityError(UsageError):
    """Every agent number is held by a live agent; the match is not watched (and counted)."""


@dataclass
class AgentState:
    info: AgentInfo
    seed: int = 0  # known-window filter hash seed (h7_agent_cfg.seed)
    filtering: bool = False
    live: set[int] = field(default_factory=set)  # tgids believed alive
    prev_stats: np.ndarray = field(default_factory=lambda: np.zeros(1, STATS_DTYPE)[0])
    prev_cpu_ns: int = 0  # the agent's on-CPU ns so far, running slices included (_cpu_ns)
    codes: np.ndarray | None = None  # the windows put in the kernel filter (to take them out again)
    dead_batches: int = 0  # batches since its last process exited
    #: CLOCK_MONOTONIC ns from which the kernel marks the agent's tool runs (h7_agent_cfg.tool_root)
    tools_marked_ns: int | None = None


def ensure_tracefs() -> None:
    """libbpf attaches tracepoints by id from tracefs; mount it if the host did not."""
    if (TRACEFS / "events").is_dir():
        return
    try:
        subprocess.run(
            ["mount", "-t", "tracefs", "nodev", str(TRACEFS)],
            check=True,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise BPFError(f"tracefs is not mounted at {TRACEFS} and mounting it failed: {e}") from e


def cgroup2_mounts(mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Mount points of the cgroup v2 hierarchy's ROOT (mountinfo field 4 is "/")."""
    out: list[str] = []
    try:
        lines = Path(mountinfo).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        f = left.split()
        if right.split()[:1] == ["cgroup2"] and len(f) >= 5 and f[3] == "/":
            out.append(f[4].replace("\\040", " "))
    return out


def open_cgroup2_root(path: str = "") -> int:
    """An O_RDONLY fd on the cgroup v2 root (or ``path``).

    Hosts with the hybrid layout mount v2 at /sys/fs/cgroup/unified; a host
    without any v2 mount gets a private one in a temporary directory that is
    lazily unmounted at once (the fd keeps the cgroup alive).
    """
    import tempfile

    candidates = [path] if path else cgroup2_mounts()
    for c in candidates:
        try:
            return os.open(c, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            if path:
                raise BPFError(f"open cgroup {path}: {e.strerror}", errno=e.errno or 0) from e
    tmp = tempfile.mkdtemp(prefix="h7-cgroup2-")
    try:
        subprocess.run(["mount", "-t", "cgroup2", "none", tmp], check=True, capture_output=True, timeout=10)
        try:
            return os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        finally:
            subprocess.run(["umount", "-l", tmp], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        raise BPFError(f"no cgroup v2 hierarchy mounted and mounting one failed: {e}") from e
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(tmp)


def _sum_cpus(rows: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Sum per-CPU copies of an all-u64 struct; returns one record of ``dtype``."""
    if rows.size == 0:
        return np.zeros(1, dtype)[0]
    words = np.ascontiguousarray(rows).view(np.uint64).reshape(rows.shape[0], -1)
    return words.sum(axis=0, dtype=np.uint64).view(dtype)[0]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs code: any thread of it, not only its leader.

    /proc/<pid>/stat shows the leader's state; a leader that exited alone (exit(2) on the main
    thread) is a zombie while its threads go on, and dropping the process then would end the
    agent's watch with the agent still acting (the kernel's exit record waits for the last thread).
    """
    st = procfs.read_stat(pid)
    if st is None:
        return False
    if st.state not in ("Z", "X"):
        return True
    return any(_alive_thread(pid, tid) for tid in procfs.threads_of(pid) if tid != pid)


def _task_exists(tgid: int, tid: int) -> bool:
    """Thread ``tid`` exists in process ``tgid`` (a reused tid in another process does not count)."""
    return os.path.exists(f"/proc/{tgid}/task/{tid}")


def _alive_thread(pid: int, tid: int) -> bool:
    st = procfs.read_stat(tid, procfs.PROC / str(pid) / "task")
    return st is not None and st.state not in ("Z", "X")


def _cpu_ns(run: np.ndarray | None, now_ns: int) -> int | None:
    """The agent's CPU ns up to ``now_ns`` (CLOCK_MONOTONIC, bpf_ktime_get_ns's clock).

    ``run`` holds one struct h7_run per CPU (bpf/h7.h).  The kernel counts a
    slice when it ends, as the thread's runtime delta; a slice still running
    on a CPU adds ``now - its start`` here, so a thread that is never
    switched out (a busy loop, a spinning event loop) is seen at every read
    and not only when it stops.  Each CPU's state is one word, so a read
    racing a switch sees it before or after, never half of it.  None when
    the map could not be read.
    """
    if run is None or run.size == 0:
        return None
    total = 0
    for v in run["cpu"].tolist():  # a few CPUs: plain ints are cheaper than numpy here
        total += max(0, v - RUN_BASE + now_ns) if v >= RUN_ON else v
    return total


def _percpu_stride(dtype: np.dtype) -> int:
    """Bytes per CPU in a per-CPU map value as the syscall API lays it out (8-byte rounded)."""
    return (dtype.itemsize + 7) & ~7


def _words(rec: np.ndarray) -> np.ndarray:
    return np.frombuffer(rec.tobytes(), np.uint64)


class Sensor:
    """One loaded instance of bpf/h7.bpf.c serving any number of agents."""

    def __init__(self, config: SensorConfig | None = None) -> None:
        self.config = config or SensorConfig()
        self.config.validate()
        self.obj: BpfObject | None = None
        self.hooks: list[HookStatus] = []
        self.agents: dict[int, AgentState] = {}
        self._free_slots: list[int] = []  # agent numbers retired and reusable, oldest first
        self._next_slot = 1
        self.capacity_refused = 0  # matches not watched: every slot held by a live agent
        self.scope_insert_failed = 0  # threads the kernel's scope map had no room for
        self.retired = 0
        self._by_pid: dict[int, int] = {}  # tgid -> agent
        self._sys_ring: RingBuffer | None = None
        self._event_ring: RingBuffer | None = None
        self._maps: dict[str, Map] = {}
        self._pending_sys: list[np.ndarray] = []
        self._sys_handed = 0
        self._pending_events: list[Event] = []
        #: access records made by userspace (the attach-time scan for held mem fds), handed out
        #: by the next poll() like the kernel's
        self._scan_events: list[Event] = []
        self.held_files = 0  # mem files registered with the kernel (held_files)
        self._held: dict[int, list[procfs.MemHolder]] = {}  # agent -> the holders registered for it
        self._epoll: select.epoll | None = None
        self._seq_bits: SeqBits | None = None
        self.attach_seconds = 0.0
        self._programs: dict[str, Program] = {}
        #: gap name -> {"gap": n, "mode": fentry|tracepoint|syscall, "hooks": [...], "what": ...}
        self.gap_modes: dict[str, dict[str, Any]] = {}
        #: hook_cfg.egress_repeat_ns (set_egress_repeat): 0, a process's sends to one
        #: destination are reported once
        self.egress_repeat_ns = 0

    # ------------------------------------------------------------ lifecycle
    def open(self) -> None:
        if self.obj is not None:
            raise BPFError("sensor is already open")
        if os.geteuid() != 0:
            raise PermissionDenied("h7 needs root to load BPF programs (run with sudo)")
        if not BTF_VMLINUX.exists():
            raise BPFError(f"{BTF_VMLINUX} is missing: this kernel has no BTF, CO-RE cannot relocate")
        t0 = time.monotonic()
        ensure_tracefs()
        try:
            obj = self._load_object()
            self.obj = obj
            self._attach_all(obj)
            names: tuple[str, ...] = ("scope", "seed_bits", "agent_stats", "agent_run", "ring_stats")
            names += ("agent_cfg", "hook_cfg", "nspid", "task_pidns")
            names += ("held_files", "held_procs", "held_on")
            for name in names:
                self._maps[name] = obj.map(name)
            self._write_hook_cfg()
            self._seq_bits = SeqBits(obj.map("seq_bits").fd)
            self._sys_ring = RingBuffer(
                obj.map("sys_ring"), SYS_DTYPE.itemsize, self.config.sys_batch_records
            )
            # records are as long as their union member (bpf/h7.bpf.c H7_EV_SIZE), at least a header
            self._event_ring = RingBuffer(
                obj.map("event_ring"), EVENT_SIZE, self.config.event_batch_records, min_record=HDR_SIZE
            )
            obj.rings.extend([self._sys_ring, self._event_ring])
            self._epoll = select.epoll()
            self._epoll.register(self._event_ring.fileno(), select.EPOLLIN)
            self._epoll.register(self._sys_ring.fileno(), select.EPOLLIN)
        except BaseException:
            self.close()
            raise
        self.attach_seconds = time.monotonic() - t0

    # ------------------------------------------------------ hooks and modes
    def _load_object(self) -> BpfObject:
        """Load the object with every program this kernel accepts.

        libbpf loads an object all or nothing, so a program the kernel refuses
        is switched off (autoload) and the object loaded again: an EPERM on
        one fentry program switches off its whole kind (the kernel refuses
        the type, as on hosts where fentry is locked down), any other error
        only that program (e.g. a function this kernel does not have).  Only
        optional programs (see :func:`optional_kind`) may be dropped; a
        refused core program is an error, as before.
        """
        off: dict[str, str] = {}
        forced = self.config.hook_mode
        # A refused optional program is expected on some kernels (fentry here): libbpf's
        # warnings about it are kept in libbpf.recent_messages, not printed.
        quiet = logging.getLogger("h7.libbpf")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            return self._load_rounds(off, forced)
        except BPFError as e:
            quiet.setLevel(level)
            if e.program is not None:  # a core program failed: its log matters
                for line in list(libbpf_messages):
                    quiet.warning("%s", line)
            raise  # the object as a whole (BPF refused): the one-line error says why
        finally:
            quiet.setLevel(level)

    def _load_rounds(self, off: dict[str, str], forced: str) -> BpfObject:
        for round_no in range(12):  # bounded: each round switches off at least one program
            obj = BpfObject()
            try:
                obj.map("sys_ring").set_max_entries(self.config.sys_ring_bytes)
                obj.map("event_ring").set_max_entries(self.config.event_ring_bytes)
                programs = obj.programs()
                for p in programs:
                    kind = optional_kind(p.section)
                    if kind is not None and p.name not in off and not mode_allows(forced, kind):
                        off[p.name] = f"hook mode {forced!r}"
                if round_no == 0:
                    prescreen(programs, off)
                for p in programs:
                    if p.name in off:
                        p.autoload = False
                obj.load()
            except BPFError as e:
                obj.close()
                prog = e.program
                section = next((p.section for p in programs if p.name == prog), "") if prog else ""
                kind = optional_kind(section)
                if prog is None or kind is None or prog in off:
                    raise
                reason = f"{errno_name(e.errno or 0)}: {e}"
                if e.errno in (errno_mod.EPERM, errno_mod.EACCES):
                    for p in programs:
                        if optional_kind(p.section) == kind:
                            off.setdefault(p.name, reason)
                else:
                    off[prog] = reason
                log.info("BPF program %s (%s) not loaded: %s", prog, section, reason)
                continue
            for p in programs:
                if p.name in off:
                    self.hooks.append(HookStatus(p.name, p.section, "failed", off[p.name]))
            self._programs = {p.name: p for p in programs}
            return obj
        raise BPFError("BPF object: no loadable set of programs found")

    def _attach_all(self, obj: BpfObject) -> None:
        """Attach core programs, then each gap in the first of its modes whose whole set attaches.

        A gap runs in fentry mode only if ALL its fentry programs attach; a
        partial set is detached again so that no act is reported twice.
        """
        loaded = {n: p for n, p in self._programs.items() if p.autoload}
        gap_progs = {n for g in GAPS for n in (*g.fentry, *g.tracepoint)}
        for name, p in loaded.items():
            if name in gap_progs:
                continue
            kind = optional_kind(p.section)
            try:
                obj.links.append(p.attach())
                self.hooks.append(HookStatus(p.name, p.section, "attached"))
            except BPFError as e:
                if kind is None:
                    raise
                self.hooks.append(HookStatus(p.name, p.section, "failed", str(e)))
        self.gap_modes = {gap.name: self._attach_gap(obj, gap, loaded) for gap in GAPS}

    def _attach_gap(self, obj: BpfObject, gap: Gap, loaded: dict[str, Program]) -> dict[str, Any]:
        """The gap's mode (its ``gap_modes`` entry): the first of :meth:`Gap.modes` whose programs all attach.

        The programs of the modes after the chosen one are marked skipped;
        "syscall" (sys_enter alone, no program of the gap) when none attaches.
        A program the kernel did not load was recorded as failed at load time.
        """
        mode = "syscall"
        for kind, names in gap.modes():
            if mode != "syscall":
                self.hooks.extend(
                    HookStatus(n, self._programs[n].section, "skipped", f"{gap.name}: {mode} mode")
                    for n in names
                )
                continue
            progs = [loaded[n] for n in names if n in loaded]
            if len(progs) == len(names) and self._attach_set(obj, progs) is not None:
                mode = kind
        hooks = [
            h.section
            for h in self.hooks
            if h.state == "attached" and h.program in (*gap.fentry, *gap.tracepoint)
        ]
        if mode != "fentry" and gap.fallback_sees:
            hooks.append("tp_btf/sys_enter")
            hooks.extend(h.section for h in self.hooks if h.state == "attached" and h.program in gap.also)
        return {"gap": gap.issue_gap, "mode": mode, "hooks": hooks, "what": gap.what}

    def _attach_set(self, obj: BpfObject, progs: list[Program]) -> list[Link] | None:
        """Attach all of ``progs`` or none (a program shared by two gaps is attached once)."""
        attached = {h.program for h in self.hooks if h.state == "attached"}
        new = [p for p in progs if p.name not in attached]
        links: list[Link] = []
        try:
            for p in new:
                links.append(self._attach_one(p))
        except BPFError as e:
            for link in links:
                link.destroy()
            for p in new:
                self.hooks.append(HookStatus(p.name, p.section, "failed", str(e)))
            return None
        obj.links.extend(links)
        for p in new:
            self.hooks.append(HookStatus(p.name, p.section, "attached"))
        return links

    def _attach_one(self, p: Program) -> Link:
        if not p.section.startswith("cgroup/"):
            return p.attach()
        fd = open_cgroup2_root(self.config.cgroup_path)
        try:
            return p.attach_cgroup(fd)
        finally:
            os.close(fd)  # the link keeps its own reference to the cgroup

    def loaded_programs(self) -> int:
        """How many of the object's programs this kernel loaded (attached or held in reserve)."""
        return sum(1 for p in self._programs.values() if p.autoload)

    def _loaded_fdinfo(self) -> dict[str, dict[str, int]]:
        """program name -> the kernel's fdinfo, for every program this kernel loaded."""
        return {name: p.fdinfo() for name, p in self._programs.items() if p.autoload}

    def program_stats(self) -> dict[str, tuple[int, int]]:
        """program name -> (run_time_ns, run_cnt), cumulative; zeros unless bpf_stats are enabled."""
        return {
            name: (info.get("run_time_ns", 0), info.get("run_cnt", 0))
            for name, info in self._loaded_fdinfo().items()
        }

    def verified_insns(self) -> dict[str, int]:
        """program name -> instructions the verifier walked to accept it (fdinfo, kernel >= 5.16).

        The verifier refuses a program past 1M walked instructions, and the count grows with
        every branch a change adds, often far more than the program's size does: a hook that
        creeps towards the limit on one kernel fails to load on the next.  The doctor shows it
        and a test bounds it, so growth is seen while there is still room.  Absent for a
        program the kernel does not report it for."""
        return {
            name: info["verified_insns"]
            for name, info in self._loaded_fdinfo().items()
            if "verified_insns" in info
        }

    def program_ids(self) -> set[int]:
        """Kernel ids of this sensor's loaded programs (what bpftool lists)."""
        ids = {p.prog_id for p in self._programs.values() if p.autoload}
        return {i for i in ids if i is not None}

    def _write_hook_cfg(self) -> None:
        cfg = np.zeros(1, HOOK_CFG_DTYPE)
        for gap in GAPS:
            if gap.cfg_field:
                cfg[gap.cfg_field] = gap.values[self.gap_modes[gap.name]["mode"]]
        cfg["egress_repeat_ns"] = self.egress_repeat_ns
        self._maps["hook_cfg"].update(_U32.pack(0), cfg.tobytes())

    def set_egress_repeat(self, idle_ns: int) -> None:
        """Silence after which a process's send to a destination it used before is reported again.

        The kernel reports a process's sends to one destination once (a chatty
        socket costs a map lookup, not a record: bpf/h7.bpf.c, egress_repeat), so
        without this a destination that comes back after the engine's
        ``fold_idle`` would be neither certified again nor counted, unlike a
        connect, which is reported every time.  The pipeline sets it to
        ``fold_idle``; 0 keeps one report per process and destination.  The kernel
        notes a use at most once a second, so the silence is measured to within 1 s.
        """
        if idle_ns < 0:
            raise UsageError(f"egress repeat must be >= 0 ns, not {idle_ns}")
        self.egress_repeat_ns = idle_ns
        if self.obj is not None:
            self._write_hook_cfg()

    def close(self) -> None:
        """Detach everything; nothing is pinned, so closing the object frees all maps."""
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
        if self._seq_bits is not None:
            self._seq_bits.close()
            self._seq_bits = None
        if self.obj is not None:
            self.obj.close()
            self.obj = None
        self._sys_ring = self._event_ring = None
        self._maps.clear()

    def __enter__(self) -> Sensor:
        if self.obj is None:
            self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- scope
    def add_agent(self, pid: int, name: str = "") -> AgentInfo:
        """Start watching ``pid`` and everything below it.

        Seeding happens after the fork program is attached, and the tree is
        walked twice: a child forked by a not-yet-seeded process between the
        two walks is caught by the second one; anything forked after a
        parent is seeded is caught by the kernel.
        """
        if self.obj is None:
            raise BPFError("sensor is not open")
        for st in self.agents.values():
            if pid in st.live:
                raise UsageError(f"pid {pid} is already watched as agent {st.info.agent_id}")
        agent = self._alloc_slot()
        try:
            info = procfs.agent_info(agent, pid, name)
        except BaseException:
            self._free_slots.append(agent)
            raise
        state = AgentState(info=info, seed=new_seed())
        self._write_cfg(agent, state)
        # A reused slot starts from zero: no CPU may still show a slice of a former
        # agent's thread as running (nothing is in scope under this number now).
        with contextlib.suppress(BPFError, OSError):
            zeros = bytes(_percpu_stride(RUN_DTYPE) * possible_cpus())
            self._maps["agent_run"].update(_U32.pack(agent), zeros)
        # Before seeding: whatever the kernel counts from the first seeded thread
        # on belongs to the first batch, like the records it ships.
        state.prev_stats = self._read_stats(agent)
        state.prev_cpu_ns = _cpu_ns(self._read_run(agent), time.monotonic_ns()) or 0
        scope = self._maps["scope"]
        entry = np.zeros(1, SCOPE_DTYPE)  # struct h7_scope, as the BTF-checked dtype lays it out
        for _ in range(2):
            for tgid in procfs.descendants(pid):
                if tgid in state.live:
                    continue
                state.live.add(tgid)
                self._by_pid[tgid] = agent
                entry["agent"], entry["tgid"] = agent, tgid
                for tid in procfs.threads_of(tgid):
                    # its CPU time counts from now (rt_ns: see bpf/h7.h struct h7_run)
                    rt = procfs.thread_runtime_ns(tid)
                    entry["rt_ns"], entry["flags"] = (rt, SCOPE_RT) if rt is not None else (0, 0)
                    value = entry.tobytes()
                    try:
                        scope.update(_U32.pack(tid), value)
                    except (BPFError, OSError) as e:
                        # full scope map: this thread goes unwatched; counted like a drop
                        self.scope_insert_failed += 1
                        log.warning("scope map insert for tid %d failed: %s", tid, e)
                        continue
                    if self._unseed_if_gone(tgid, tid, value):
                        continue
                    self._seed_bit(tid)
                    self._seed_nspid(tid)
        self.agents[agent] = state
        if procfs.read_stat(pid) is None:
            raise UsageError(f"pid {pid} exited while H7 was attaching")
        self._scan_held(agent, state)
        return info

    def _unseed_if_gone(self, tgid: int, tid: int, value: bytes) -> bool:
        """Take back a seed whose thread exited before it landed; True if it did.

        The kernel drops a thread's scope in its exit hook; a thread listed in /proc that exits
        before userspace writes its entry has had that hook already, and the entry would stay
        until the tid is reused, putting an unrelated process in the agent's scope (its records
        judged as the agent's: a false alert, seen as ``python<-agent`` after the test suite
        wrapped pid_max).  Checked after the write, so a thread exiting later is the hook's.  The
        entry is removed only if it is still the one written here (the kernel may have put a new
        task of the agent under a reused tid meanwhile).
        """
        if _task_exists(tgid, tid):
            return False
        self._drop_scope_entry(tid, value)
        return True

    def _drop_scope_entry(self, tid: int, value: bytes) -> None:
        """Delete ``tid``'s scope entry if it still holds ``value`` (the kernel may have rewritten it)."""
        scope = self._maps["scope"]
        with contextlib.suppress(BPFError, OSError):
            if scope.lookup(_U32.pack(tid)) == value:
                scope.delete(_U32.pack(tid))

    def _scan_held(self, agent: int, state: AgentState) -> None:
        """Find fds already open on the new agent's /proc/<pid>/mem files, in any process (gap 2).

        The kernel checks access to a process's memory when its mem file is opened; an fd opened
        before this sensor watched the agent is used later with no check and no open to see.  Each
        holder found is reported once now (an ``access`` record, op ``proc_mem_held``: L5 certifies
        it), and, unless fentry/mem_rw is live (it sees every use whatever the fd's history), its
        file and tgid go to the kernel so that sys_enter reports its reads and writes through it.
        Twice, like the seeding: a holder that forks between the scan and the registration leaves
        a child the kernel's fork hook did not yet copy (held_fork runs once held_on is set).
        """
        tids = {tid for tgid in state.live for tid in procfs.threads_of(tgid)}
        register = self.gap_modes.get("mem_fd_use", {}).get("mode") != "fentry"
        seen: set[tuple[int, int]] = set()
        for _ in range(2):
            found = [h for h in procfs.mem_holders(tids) if (h.holder, h.fd) not in seen]
            for h in found:
                seen.add((h.holder, h.fd))
                if register:
                    self._register_held(agent, h)
                self._scan_events.append(self._held_event(agent, h))
            if not found:
                break

    def _register_held(self, agent: int, h: procfs.MemHolder) -> None:
        """Put one holder and its file in the kernel's held maps (holder first, the gate last)."""
        one = _U32.pack(1)
        try:
            self._maps["held_procs"].update(_U32.pack(h.holder), one)
            self._maps["held_files"].update(struct.pack("<QII", h.ino, h.dev, 0), one)
        except (BPFError, OSError) as e:
            log.warning("held mem fd %d of pid %d not registered: %s", h.fd, h.holder, e)
            return
        self._held.setdefault(agent, []).append(h)
        self.held_files += 1
        self._maps["held_on"].update(_U32.pack(0), _U32.pack(self.held_files))

    def _forget_held(self, agent: int) -> None:
        """A retired agent's held files leave the kernel; with none left the gate shuts again.

        Its memory is gone, so nothing of it can be read through them; every read/write-family
        call on the host would otherwise keep paying the holder lookup for nothing.  The holders
        themselves (and the children the kernel registered) are cleared only with the last file:
        a holder may hold another agent's memory too.
        """
        gone = self._held.pop(agent, [])
        if not gone:
            return
        keep = {(h.dev, h.ino) for hs in self._held.values() for h in hs}
        with contextlib.suppress(BPFError, OSError):
            for h in gone:
                if (h.dev, h.ino) not in keep:
                    self._maps["held_files"].delete(struct.pack("<QII", h.ino, h.dev, 0))
            self.held_files = sum(len(hs) for hs in self._held.values())
            self._maps["held_on"].update(_U32.pack(0), _U32.pack(self.held_files))
            if not self.held_files:
                m = self._maps["held_procs"]
                for k in list(m.iter_keys()):
                    m.delete(k)

    @staticmethod
    def _held_event(agent: int, h: procfs.MemHolder) -> Event:
        """The access record of a holder found by the scan, shaped as decode_events shapes the kernel's."""
        st = procfs.read_stat(h.holder)
        try:
            uid = os.stat(f"/proc/{h.holder}").st_uid
        except OSError:
            uid = -1
        return {
            "type": "access",
            "ts_ns": time.monotonic_ns(),  # the kernel's clock (bpf_ktime_get_ns)
            "agent": agent,
            "pid": h.holder,
            "tid": h.holder,
            "ppid": st.ppid if st else 0,
            "uid": uid,
            "comm": st.comm if st else "",
            "op": "proc_mem_held",
            "hook": HELD_SCAN_HOOK,
            "target": h.target,
            "target_pid": h.target_pid,
            "target_agent": agent,
            "mode": h.flags,
            "arg_pid": h.target,
            "arg_fd": h.fd,
            "nr": -1,
        }

    def _alloc_slot(self) -> int:
        """The agent number for a new agent: the longest-free one, else the next unused one.

        Numbers are the kernel's per-agent keys (scope entries, stats, config,
        filter seed); a freed one is reused only after :meth:`retire_dead`
        has cleared all of that, oldest first, so late records of a retired
        agent have had the most time to drain.
        """
        if self._free_slots:
            return self._free_slots.pop(0)
        if self._next_slot >= MAX_AGENTS:
            self.capacity_refused += 1
            raise AgentCapacityError(
                f"all {MAX_AGENTS - 1} agent slots are in use by live agents; not watching this one"
            )
        slot = self._next_slot
        self._next_slot += 1
        return slot

    def retire_dead(self, after_batches: int = 2) -> list[int]:
        """Free the slots of agents whose processes are all gone (watch mode).

        An agent is retired ``after_batches`` batches after its last process
        exited (its records drained by then): its kernel config and counters
        are reset, its known-window bits leave the filter (unless another
        agent's windows share them), and its number goes back to the pool.
        Returns the retired numbers (the engine forgets them too).
        """
        out: list[int] = []
        entries: dict[int, tuple[int, int, bytes]] | None = None
        for agent, st in list(self.agents.items()):
            if st.live:
                st.dead_batches = 0
                continue
            st.dead_batches += 1
            if st.dead_batches < after_batches:
                continue
            if entries is None:  # read once per call, only when an agent is due to retire
                try:
                    entries = self._scope_entries()
                except (BPFError, OSError):
                    entries = {}
            left = {t: (g, v) for t, (a, g, v) in entries.items() if a == agent}
            alive = {tgid for tid, (tgid, _) in left.items() if _task_exists(tgid, tid)}
            if alive:
                # a process whose fork record the ring lost: in scope, not in live
                st.live |= alive
                for tgid in alive:
                    self._by_pid[tgid] = agent
                st.dead_batches = 0
                continue
            for tid, (_, raw) in left.items():
                self._drop_scope_entry(tid, raw)  # stale: its number goes to the next agent
            if st.filtering and st.codes is not None and self._seq_bits is not None:
                keep = [
                    (o.codes, a, o.seed)
                    for a, o in self.agents.items()
                    if a != agent and o.filtering and o.codes is not None
                ]
                self._seq_bits.remove(st.codes, agent, st.seed, keep)
            with contextlib.suppress(BPFError, OSError):
                self._maps["agent_cfg"].update(_U32.pack(agent), np.zeros(1, AGENT_CFG_DTYPE).tobytes())
            del self.agents[agent]
            self._forget_held(agent)
            for tgid in [t for t, a in self._by_pid.items() if a == agent]:
                del self._by_pid[tgid]
            self._free_slots.append(agent)
            self.retired += 1
            out.append(agent)
        return out

    def _scope_entries(self) -> dict[int, tuple[int, int, bytes]]:
        """The kernel's scope map: tid -> (agent, tgid, raw value)."""
        out = {}
        scope = self._maps["scope"]
        for k in scope.iter_keys():
            v = scope.lookup(k)
            if v is not None:
                e = np.frombuffer(v, SCOPE_DTYPE, count=1)[0]
                out[_U32.unpack(k)[0]] = (int(e["agent"]), int(e["tgid"]), v)
        return out

    def _seed_bit(self, tid: int) -> None:
        """Mark ``tid`` in the kernel's scope prefilter.

        Only this method writes ``seed_bits`` (the kernel writes its own
        ``fork_bits``), so the read-modify-write cannot lose a kernel update.
        """
        if tid >= PID_LIMIT:
            return  # beyond the bitmap the kernel always consults the hash map
        m = self._maps["seed_bits"]
        key = _U32.pack(tid >> 6)
        raw = m.lookup(key)
        word = _U64.unpack(raw)[0] if raw is not None else 0
        m.update(key, _U64.pack(word | (1 << (tid & 63))))

    def _seed_nspid(self, tid: int) -> None:
        """Register a seeded task under its pid in its own PID namespace (gap 3).

        The kernel registers every namespace level of tasks it sees fork;
        for tasks that existed before ``attach`` /proc only names the
        innermost namespace (/proc/<tid>/ns/pid and the last NSpid field).
        task_pidns keeps that namespace by host tid: a path through the
        task's root (``/proc/<tid>/root/proc/<pid>/mem``) names pids in it.
        """
        try:
            ns = os.stat(f"/proc/{tid}/ns/pid").st_ino
            for line in Path(f"/proc/{tid}/status").read_text().splitlines():
                if line.startswith("NSpid:"):
                    pids = line.split()[1:]
                    break
            else:
                return
        except OSError:
            return
        if len(pids) > 1:
            self._maps["nspid"].update(struct.pack("<II", ns, int(pids[-1])), _U32.pack(tid))
            self._maps["task_pidns"].update(_U32.pack(tid), _U32.pack(ns))

    def watched_tids(self) -> dict[int, tuple[int, int]]:
        """Kernel scope map contents: tid -> (agent, tgid).  For tests and status."""
        return {tid: (agent, tgid) for tid, (agent, tgid, _) in self._scope_entries().items()}

    def _write_cfg(self, agent: int, st: AgentState) -> None:
        cfg = np.zeros(1, AGENT_CFG_DTYPE)
        cfg["seed"] = st.seed
        cfg["seq_filter"] = int(st.filtering)
        cfg["tool_root"] = st.info.root_pid if st.tools_marked_ns is not None else 0
        self._maps["agent_cfg"].update(_U32.pack(agent), cfg.tobytes())

    def mark_tool_runs(self, agent: int) -> None:
        """From now on the kernel counts the scheduling of ``agent``'s tool runs apart.

        Called when the agent's baseline ends: a process of the agent other
        than its root that execs from then on is a tool run (bpf/h7.h
        H7_SCOPE_TOOL), as ``h7.detect.proctree`` defines one, so L1 can judge
        the shape of the agent's own processes without a compiler's or a
        tracer's switches swamping it.  Batches that start after this carry
        the agent in ``Batch.tool_split``.
        """
        st = self.agents.get(agent)
        if st is None or st.tools_marked_ns is not None:
            return
        st.tools_marked_ns = time.monotonic_ns()
        self._write_cfg(agent, st)

    def set_sequence_filter(self, agent: int, codes: np.ndarray) -> dict[str, Any]:
        """Stop shipping syscalls of ``agent`` whose window code is in ``codes``.

        Bits go in before the switch is turned on, so the kernel never
        filters on a half-loaded set.  Returns what an operator needs to
        judge the filter: how many windows, and its false-positive rate.
        """
        st = self.agents.get(agent)
        if st is None or self._seq_bits is None:
            raise UsageError(f"no agent {agent} in this sensor")
        codes = np.asarray(codes, dtype=np.uint64)
        self._seq_bits.add(codes, agent, st.seed)
        st.codes = codes if st.codes is None else np.union1d(st.codes, codes)
        st.filtering = True
        self._write_cfg(agent, st)
        bits = self._seq_bits.bits_set()
        return {
            "known_windows": int(codes.size),
            "filter_bits_set": bits,
            "false_positive_rate": false_positive_rate(bits),
            "false_positive_rate_alone": expected_false_positive_rate(int(codes.size)),
        }

    def clear_sequence_filter(self, agent: int) -> None:
        """Ship every syscall of ``agent`` again (its baseline restarted)."""
        st = self.agents.get(agent)
        if st is None or not st.filtering:
            return
        st.filtering = False
        self._write_cfg(agent, st)

    # ------------------------------------------------ hand-offs to daemons (kexec)
    def set_follow_daemons(self, comms: list[str], window_ns: int) -> None:
        """Daemons (by comm) whose next children join an agent's scope after a hand-off.

        When a monitored thread's unix connect is accepted by a process whose
        comm is listed, the kernel puts that process's children forked in the
        next ``window_ns`` in the agent's scope (bpf/h7.bpf.c, follow_agent):
        the command a terminal multiplexer was asked to run is then watched
        like any other descendant.  An empty list or a zero window turns it off.
        Hand-offs already live end here too: a daemon followed under the old
        settings (for an agent number that may be reused) follows no longer.
        """
        if self.obj is None:
            raise BPFError("sensor is not open")
        for name in ("follow_comms", "follow"):
            old = self.obj.map(name)
            for k in list(old.iter_keys()):
                old.delete(k)
        self.obj.map("follow_until").update(_U32.pack(0), _U64.pack(0))
        if window_ns <= 0:
            return
        m = self.obj.map("follow_comms")
        for c in comms:
            raw = c.encode()
            if not raw or len(raw) > 15:
                raise UsageError(f"daemon name {c!r}: a comm is 1-15 bytes")
            m.update(raw.ljust(16, b"\0"), _U64.pack(window_ns))

    def set_receiver_window(self, window_ns: int) -> None:
        """How long a channel an agent act fed marks its receivers (bpf/h7.bpf.c, recv_mark).

        The kernel marks, at the act, the FIFO an agent opened for writing and the
        accepting end of its unix or TCP connect; a process outside every agent that
        forks or execs while holding a marked channel within ``window_ns`` (or a child
        it forked then) has its execs reported as ``recv_exec`` records, which L2
        judges (DAEMON_HANDOFF, ``matched_by: receiver-exec``).  0 turns it off, marks
        already made included (their live-until slot is cleared).
        """
        if self.obj is None:
            raise BPFError("sensor is not open")
        if window_ns < 0:
            raise UsageError(f"receiver window must be >= 0 ns, not {window_ns}")
        m = self.obj.map("recv_state")
        m.update(_U32.pack(RECV_WINDOW), _U64.pack(window_ns))
        if window_ns == 0:
            for slot in range(RECV_UNTIL, RECV_STATE_SLOTS):  # every live-until slot after the window
                m.update(_U32.pack(slot), _U64.pack(0))

    def alive_agents(self) -> list[int]:
        return [a for a, st in self.agents.items() if st.live]

    # ------------------------------------------------------------- polling
    def poll(self, timeout_s: float) -> list[Event]:
        """Wait up to ``timeout_s`` for discrete events; drain both rings.

        Returns the new discrete events (also kept for the current batch).
        """
        assert self._epoll is not None and self._event_ring is not None and self._sys_ring is not None
        with contextlib.suppress(InterruptedError):
            self._epoll.poll(max(0.0, timeout_s))
        events: list[Event] = self._scan_events
        self._scan_events = []
        for _ in range(64):  # bounded: 64 * batch capacity per tick at most
            buf, n = self._event_ring.drain()
            if n:
                events.extend(decode_events(buf, n))
            if n < self._event_ring.capacity:
                break
        self._drain_sys()
        if events:
            self._track_lifecycle(events)
            self._pending_events.extend(events)
        return events

    def _drain_sys(self) -> None:
        assert self._sys_ring is not None
        for _ in range(1024):
            buf, n = self._sys_ring.drain()
            if n:
                self._pending_sys.append(np.frombuffer(buf, SYS_DTYPE, count=n).copy())
            if n < self._sys_ring.capacity:
                break

    def take_new_syscalls(self) -> np.ndarray:
        """Syscall records drained since the last call (they stay in the batch too)."""
        new = self._pending_sys[self._sys_handed :]
        self._sys_handed = len(self._pending_sys)
        if not new:
            return np.zeros(0, SYS_DTYPE)
        return new[0] if len(new) == 1 else np.concatenate(new)

    def _track_lifecycle(self, events: list[Event]) -> None:
        for ev in events:
            st = self.agents.get(ev["agent"])
            if st is None:
                continue
            if ev["type"] == "fork":
                st.live.add(ev["child"])
                self._by_pid[ev["child"]] = ev["agent"]
            elif ev["type"] == "exit":
                st.live.discard(ev["pid"])
                self._by_pid.pop(ev["pid"], None)

    def _prune_dead(self) -> None:
        """Exit events can be lost to a full ring; /proc is the ground truth."""
        for st in self.agents.values():
            st.live = {p for p in st.live if _alive(p)}

    def _read_stats(self, agent: int) -> np.ndarray:
        rows = self._maps["agent_stats"].lookup_percpu(_U32.pack(agent), STATS_DTYPE)
        return _sum_cpus(rows, STATS_DTYPE)

    def _read_run(self, agent: int) -> np.ndarray | None:
        """The agent's CPU time per CPU (struct h7_run, one row per CPU); None if unreadable."""
        try:
            return self._maps["agent_run"].lookup_percpu(_U32.pack(agent), RUN_DTYPE)
        except (BPFError, OSError):
            return None

    def ring_counters(self) -> dict[str, int]:
        """Cumulative per-ring emitted/dropped counts (summed over CPUs), and ``scratch_dropped``:
        finds lost because a preempting call on the same CPU reused the per-CPU scratch they were
        parsed in (no ring; bpf/h7.h H7_RING_SCRATCH)."""
        out: dict[str, int] = {}
        for idx in (RING_SYS, RING_EVENTS, RING_SCRATCH):
            rows = self._maps["ring_stats"].lookup_percpu(_U32.pack(idx), RING_STATS_DTYPE)
            tot = _sum_cpus(rows, RING_STATS_DTYPE)
            if idx != RING_SCRATCH:
                out[f"{RING_NAMES[idx]}_emitted"] = int(tot["emitted"])
            out[f"{RING_NAMES[idx]}_dropped"] = int(tot["dropped"])
        if self._sys_ring is not None and self._event_ring is not None:
            out["malformed"] = self._sys_ring.malformed + self._event_ring.malformed
        return out

    def drops(self) -> dict[str, int]:
        c = self.ring_counters()
        out = {k: v for k, v in c.items() if k.endswith("_dropped") or k == "malformed"}
        if not out.get("scratch_dropped"):
            # named only once it happens: most kernels never preempt a hook that uses a scratch
            out.pop("scratch_dropped", None)
        if self.scope_insert_failed:
            # threads left unwatched because the scope map was full: evidence may be incomplete
            out["scope_insert_failed"] = self.scope_insert_failed
        return out

    def take_batch(self, t0_ns: int, t1_ns: int) -> Batch:
        """Close the current batch: everything drained so far plus counter deltas."""
        self._drain_sys()
        sys_arr = np.concatenate(self._pending_sys) if self._pending_sys else np.zeros(0, SYS_DTYPE)
        self._pending_sys = []
        self._sys_handed = 0
        events, self._pending_events = self._pending_events, []
        stats: dict[int, np.ndarray] = {}
        for agent, st in self.agents.items():
            cur = self._read_stats(agent)
            cpu = _cpu_ns(self._read_run(agent), time.monotonic_ns())
            delta = (_words(cur) - _words(st.prev_stats)).view(STATS_DTYPE)[0]
            st.prev_stats = cur
            if cpu is not None:
                # the batch's CPU time, slices still running included (see _cpu_ns); a
                # running slice is timed by the clock, its end by the task's runtime, which
                # leaves out interrupts and VM steal: the total may dip, the batch never
                # goes negative and the next one does not count the dip again
                delta["oncpu_ns"] = max(0, cpu - st.prev_cpu_ns)
                st.prev_cpu_ns = max(cpu, st.prev_cpu_ns)
            stats[agent] = delta
        split = frozenset(
            a for a, st in self.agents.items() if (t := st.tools_marked_ns) is not None and t <= t0_ns
        )
        self._prune_dead()
        return Batch(
            t0_ns=t0_ns,
            t1_ns=t1_ns,
            syscalls=sys_arr,
            events=events,
            stats=stats,
            drops=self.drops(),
            tool_split=split,
        )

    def run(
        self,
        interval_ns: int,
        on_batch: Callable[[Batch], Any],
        on_events: Callable[[list[Event]], Any] | None = None,
        should_stop: Callable[[], bool] | None = None,
        duration_s: float | None = None,
        on_syscalls: Callable[[np.ndarray], Any] | None = None,
        stop_when_no_agents: bool = True,
        on_idle: Callable[[], bool] | None = None,
    ) -> str:
        """Poll until stopped; returns why it stopped (``stopped``, ``duration``, ``agent-exited``).

        Per tick, newly drained syscalls go to ``on_syscalls`` *before* the
        tick's discrete events go to ``on_events``, so an alert raised on the
        urgent path can quote the syscalls that led to it.  ``on_idle``: work
        that may wait for a batch interval's spare time (the engine's
        end-of-baseline calibration, h7.detect.engine.Engine.calibrate_step),
        one short step after a tick that ended before the batch is due; it
        returns whether more is left, and while it is the ticks poll for at
        most ``IDLE_POLL_S``, so drains still come between its steps.
        """

        def tick(timeout: float) -> None:
            events = self.poll(timeout)
            if on_syscalls is not None:
                new = self.take_new_syscalls()
                if new.size:
                    on_syscalls(new)
            if events and on_events is not None:
                on_events(events)

        poll_s = self.config.poll_ms / 1000.0
        start = time.monotonic_ns()
        t0 = start
        deadline = start + int(duration_s * 1e9) if duration_s is not None else None
        reason = "stopped"
        idle_work = False  # on_idle said it has steps left
        while True:
            if should_stop is not None and should_stop():
                reason = "stopped"
                break
            now = time.monotonic_ns()
            next_batch = t0 + interval_ns
            wait = min(IDLE_POLL_S if idle_work else poll_s, max(0.0, (next_batch - now) / 1e9))
            tick(wait)
            now = time.monotonic_ns()
            if now >= next_batch:
                # Drain once more first: a connect counted in this batch's stats must
                # reach the urgent path (L4's destination check) before the batch path
                # judges the same connects as a rate (L4's burst check).
                tick(0)
                on_batch(self.take_batch(t0, now))
                t0 = now
                idle_work = on_idle is not None  # the batch may have left some (a baseline ended)
                if stop_when_no_agents and not self.alive_agents():
                    reason = "agent-exited"
                    break
            elif idle_work and on_idle is not None:
                idle_work = bool(on_idle())
            if deadline is not None and now >= deadline:
                reason = "duration"
                break
        # flush what the last partial interval saw
        now = time.monotonic_ns()
        tick(0)
        if now > t0 or self._pending_sys or self._pending_events:
            on_batch(self.take_batch(t0, now))
        return reason


def kernel_facts() -> dict[str, Any]:
    """What `h7 doctor` reports about the host before loading anything."""
    return {
        "kernel": platform.release(),
        "machine": platform.machine(),
        "btf": BTF_VMLINUX.exists(),
        "tracefs": _is_dir(TRACEFS / "events"),
        "root": os.geteuid() == 0,
        "bpf_stats_enabled": _read_int("/proc/sys/kernel/bpf_stats_enabled"),
        "unprivileged_bpf_disabled": _read_int("/proc/sys/kernel/unprivileged_bpf_disabled"),
        # the detection core's own arithmetic: wrong under some CPU emulators (h7/sensor/simdcheck.py)
        "numpy_simd": numpy_simd_check(),
    }


def _is_dir(path: Path) -> bool | None:
    """None when this user may not look (tracefs is root-only): unknown, not absent."""
    try:
        return path.is_dir()
    except PermissionError:
        return None


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def errno_name(e: int) -> str:
    return errno_mod.errorcode.get(e, str(e))
