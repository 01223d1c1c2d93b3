"""PTRACE_ATTACH on a containerised agent from inside its own PID namespace.

The attacker shares the agent's PID namespace (as a process exec'd into
the container would) and names it by its namespace pid.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = False
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    t = rt.now()
    rt.ptrace(rt.PTRACE_ATTACH, pid)
    stopped = rt.wait_stopped(pid)
    rt.ptrace(rt.PTRACE_DETACH, pid)
    rt.report(t, True, f"PTRACE_ATTACH ns pid {pid} (stopped={stopped})")


if __name__ == "__main__":
    rt.main(run, globals())
