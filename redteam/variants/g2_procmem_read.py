"""Read the agent's memory through /proc/<pid>/mem opened read-only.

Memory scraping for secrets with nothing but open and pread.
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
    fd = os.open(f"{proc}/{pid}/mem", os.O_RDONLY)
    try:
        n = len(os.pread(fd, 8192, lo))
    finally:
        os.close(fd)
    rt.report(t, n == 8192, f"/proc/{pid}/mem pread at {lo:#x}: {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
