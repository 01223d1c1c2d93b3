"""Write a containerised agent's memory via /proc/<nspid>/mem from inside its namespace.

/proc here is the namespace's own procfs, so the path carries the
namespace pid.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = False
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    lo = rt.target_addr(args, pid)
    t = rt.now()
    fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
    try:
        n = os.pwrite(fd, os.pread(fd, 64, lo), lo)
    finally:
        os.close(fd)
    rt.report(t, n == 64, f"/proc/{pid}/mem (ns) pwrite: {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
