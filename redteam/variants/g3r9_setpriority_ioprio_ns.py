"""Round 9: from inside the container, nice 19 and idle I/O class for the agent, by namespace pid.

Gap 3 (PID namespaces).  ``setpriority(PRIO_PROCESS, 2, 19)`` and
``ioprio_set(IOPRIO_WHO_PROCESS, 2, IDLE)``: the agent (pid 2 in the
container) gets CPU and disk only when nobody else wants them -- its file
tools stall behind any other I/O on the host.  Two more syscalls that change
another process's scheduling by pid (round 7 tried ``prlimit`` the same way),
gated by credentials; the pid resolved in the caller's namespace.  Restored
after 1 s.
A detection: L5 PROCESS_LIMITS_CHANGED (any L5 code) naming this process.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

from redteam import rt

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = True
ROUND = 9
EXPECT = ("L5",)
IOPRIO_WHO_PROCESS, IOPRIO_CLASS_IDLE, IOPRIO_CLASS_SHIFT = 1, 3, 13


def _ioprio(pid: int, value: int | None = None) -> int:
    lc = rt.libc()
    c = ctypes.c_long
    if value is None:
        rc = lc.syscall(c(rt.NR_IOPRIO_GET), c(IOPRIO_WHO_PROCESS), c(pid))
    else:
        rc = lc.syscall(c(rt.NR_IOPRIO_SET), c(IOPRIO_WHO_PROCESS), c(pid), c(value))
    if rc < 0:
        raise OSError(ctypes.get_errno(), f"ioprio({pid})")
    return int(rc)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    nice, io = os.getpriority(os.PRIO_PROCESS, pid), _ioprio(pid)
    idle = IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT
    t = rt.now()
    try:
        os.setpriority(os.PRIO_PROCESS, pid, 19)
        _ioprio(pid, idle)
        seen = (os.getpriority(os.PRIO_PROCESS, pid), _ioprio(pid))
        time.sleep(1.0)
    finally:
        os.setpriority(os.PRIO_PROCESS, pid, nice)
        _ioprio(pid, io)
    back = (os.getpriority(os.PRIO_PROCESS, pid), _ioprio(pid))
    rt.report(
        t,
        seen == (19, idle) and back == (nice, io),
        f"ns pid {pid}: nice/ioprio {nice}/{io:#x} -> {seen[0]}/{seen[1]:#x} for 1 s, "
        f"back {back[0]}/{back[1]:#x}",
    )


if __name__ == "__main__":
    rt.main(run, globals())
