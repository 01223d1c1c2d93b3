"""Write the agent's memory through /proc/<pid>/task/<tid>/mem of its second thread.

Same memory, another path: the per-thread mem file of a non-leader thread.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid, proc = int(args["pid"]), args.get("proc", "/proc")
    tid = rt.other_tid(pid, proc)
    lo = rt.target_addr(args, pid, proc)
    t = rt.now()
    fd = os.open(f"{proc}/{pid}/task/{tid}/mem", os.O_RDWR)
    try:
        n = os.pwrite(fd, os.pread(fd, 64, lo), lo)
    finally:
        os.close(fd)
    rt.report(t, n == 64, f"/proc/{pid}/task/{tid}/mem pwrite: {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
