"""Round 4: write the agent's memory through a symlink (in a scratch dir) that points at /proc/PID/mem.

The path given to open() is an ordinary file name; the kernel follows the
link to the agent's mem file.
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
    d = rt.fresh_dir(args["scratch"])
    link = d / "cache.db"
    os.symlink(f"/proc/{pid}/mem", link)
    t = rt.now()
    fd = os.open(link, os.O_RDWR)
    try:
        n = rt.rewrite_mem(fd, addr)
    finally:
        link.unlink()
    rt.report(t, n == 32, f"{link} -> /proc/{pid}/mem: wrote {n} bytes at {addr:#x}")


if __name__ == "__main__":
    rt.main(run, globals())
