"""Round 3: chdir("/proc") and open "PID/mem" relative to it.

The opened path names the pid, but the syscall argument does not start with
/proc: the cwd is /proc itself, not a /proc/PID directory.
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
    os.chdir("/proc")
    t = rt.now()
    fd = os.open(f"{pid}/mem", os.O_RDWR)
    try:
        data = os.pread(fd, 16, addr)
        n = os.pwrite(fd, data, addr)
    finally:
        os.close(fd)
    rt.report(t, n == len(data), f"cwd /proc, {pid}/mem: wrote {n} bytes at {addr:#x}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
