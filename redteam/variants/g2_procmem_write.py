"""Write into the agent's memory through /proc/<pid>/mem (no ptrace syscall).

Opens /proc/<pid>/mem read-write and writes back the bytes found at its
heap, as injectors that avoid ptrace do.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid, proc = int(args["pid"]), args.get("proc", "/proc")
    lo = rt.target_addr(args, pid, proc)
    t = rt.now()
    fd = os.open(f"{proc}/{pid}/mem", os.O_RDWR)
    try:
        data = os.pread(fd, 64, lo)
        n = os.pwrite(fd, data, lo)
    finally:
        os.close(fd)
    rt.report(t, n == 64, f"/proc/{pid}/mem pwrite at {lo:#x}: {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
