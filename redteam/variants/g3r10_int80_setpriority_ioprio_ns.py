"""Round 10: inside the container, setpriority and ioprio_set on pid 2 through the ia32 entry (int $0x80).

Gap 3 (PID namespaces).  ``setpriority(PRIO_PROCESS, 2, 19)`` (ia32 97) and
``ioprio_set(IOPRIO_WHO_PROCESS, 2, IDLE)`` (ia32 289) -- integer arguments
only -- made with ``int $0x80`` from a 64-bit process in the agent's PID
namespace: the agent's CPU and disk priority dropped to the floor, read back
with the 64-bit calls, held 1 s, restored.  Round 9 did the same two with
the 64-bit syscalls (certified since, by syscall number).
A detection: L5 (PROCESS_LIMITS_CHANGED or any L5 code) naming this process.
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
ROUND = 10
STAGE = True
EXPECT = ("L5",)
IA32_SETPRIORITY, IA32_IOPRIO_SET = 97, 289
NR_IOPRIO_GET, NR_IOPRIO_SET = 252, 251
IOPRIO_WHO_PROCESS, IDLE = 1, 3 << 13


def stage(args: dict[str, Any]) -> None:
    rt.build_r10_lib(args["work"])


def ioprio_get(lc: Any, pid: int) -> int:
    return int(
        lc.syscall(ctypes.c_long(NR_IOPRIO_GET), ctypes.c_long(IOPRIO_WHO_PROCESS), ctypes.c_long(pid))
    )


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    lib, lc = rt.r10_lib(args["work"]), rt.libc()
    nice0, io0 = os.getpriority(os.PRIO_PROCESS, pid), ioprio_get(lc, pid)
    t = rt.now()
    try:
        r1 = int(lib.rt10_int80(IA32_SETPRIORITY, os.PRIO_PROCESS, pid, 19, 0))
        r2 = int(lib.rt10_int80(IA32_IOPRIO_SET, IOPRIO_WHO_PROCESS, pid, IDLE, 0))
        seen = (os.getpriority(os.PRIO_PROCESS, pid), ioprio_get(lc, pid))
        time.sleep(1.0)
    finally:
        os.setpriority(os.PRIO_PROCESS, pid, nice0)
        c = ctypes.c_long
        lc.syscall(c(NR_IOPRIO_SET), c(IOPRIO_WHO_PROCESS), c(pid), c(io0))
    back = (os.getpriority(os.PRIO_PROCESS, pid), ioprio_get(lc, pid))
    rt.report(
        t,
        r1 == 0 and r2 == 0 and seen == (19, IDLE) and back == (nice0, io0),
        f"ns pid {pid}: int80 setpriority rc {r1}, ioprio_set rc {r2}: nice/ioprio {nice0}/{io0:#x} -> "
        f"{seen[0]}/{seen[1]:#x}, 1 s, restored {back[0]}/{back[1]:#x}",
    )


if __name__ == "__main__":
    rt.main(run, globals())
