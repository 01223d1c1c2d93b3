"""Round 3: write the agent's memory through //proc//PID///mem (a literal path, extra slashes).

The path is what any shell would accept; the kernel collapses the slashes.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 3
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    addr = rt.target_addr(args, pid)
    path = f"//proc//{pid}///mem"
    t = rt.now()
    fd = os.open(path, os.O_RDWR)
    try:
        data = os.pread(fd, 16, addr)
        n = os.pwrite(fd, data, addr)  # the same bytes back: tampered, not broken
    finally:
        os.close(fd)
    rt.report(t, n == len(data), f"{path}: wrote {n} bytes at {addr:#x}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
