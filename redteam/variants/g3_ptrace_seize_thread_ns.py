"""PTRACE_SEIZE of the containerised agent's second thread, by its namespace tid.

A thread id, not the process id, inside the namespace.
"""

from __future__ import annotations

import time
from typing import Any

from redteam import rt

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = True
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    tid = rt.other_tid(pid)
    t = rt.now()
    rt.ptrace(rt.PTRACE_SEIZE, tid)
    time.sleep(0.05)
    rt.report(t, True, f"PTRACE_SEIZE ns tid {tid} of ns pid {pid}")


if __name__ == "__main__":
    rt.main(run, globals())
