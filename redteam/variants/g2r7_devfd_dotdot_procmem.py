"""Round 7: /dev/fd/../../PID/mem -- the agent's memory through a system symlink and two `..`.

``/dev/fd`` is the distribution's symlink to ``/proc/self/fd``; two ``..``
after it land in /proc.  The path never spells /proc, and no link was made by
the attacker (round 4's symlink was its own file).  32 bytes of the agent's
heap read and written back.
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
    path = f"/dev/fd/../../{pid}/mem"
    t = rt.now()
    n = rt.rewrite_mem(os.open(path, os.O_RDWR), addr)
    rt.report(t, n == 32, f"{path}: {n} bytes read and written back at {addr:#x}")


if __name__ == "__main__":
    rt.main(run, globals())
