"""Round 5: inside the agent's PID namespace, write its memory via /proc/<inner tid>/mem of its second thread.

g2r5_procmem_tid_direct from inside the namespace: a thread id, in the
namespace's numbering, as a top-level entry of the namespace's procfs.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = True
ROUND = 5
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    tid = rt.other_tid(pid)
    addr = int(args["addr"])
    t = rt.now()
    fd = os.open(f"/proc/{tid}/mem", os.O_RDWR)
    n = rt.rewrite_mem(fd, addr)
    rt.report(t, n == 32 and tid != pid, f"/proc/{tid}/mem (ns thread of inner pid {pid}): rewrote {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
