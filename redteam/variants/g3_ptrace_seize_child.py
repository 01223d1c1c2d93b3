"""A child of the containerised agent PTRACE_SEIZEs its parent by namespace pid.

Injected code inside the namespaced agent forks; the child seizes the
agent (getppid() is a namespace pid), interrupts it once and lets go.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 3
MODE = "inject"
TARGET = "ns"
HELD_OUT = False
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    t = rt.now()
    pid = os.fork()
    if pid == 0:
        try:
            parent = os.getppid()
            rt.ptrace(rt.PTRACE_SEIZE, parent)
            os._exit(0)
        except BaseException:
            os._exit(2)
    status = rt.wait_exit(pid)
    rt.report(t, status == 0, f"child {pid} PTRACE_SEIZE of ns parent {os.getpid()}: exit {status}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
