"""Reconnaissance of the agent's address space: read /proc/<pid>/maps from another process.

The step before any memory injection: where the heap, stacks and
libraries are.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid, proc = int(args["pid"]), args.get("proc", "/proc")
    t = rt.now()
    with open(f"{proc}/{pid}/maps") as f:
        n = len(f.read().splitlines())
    rt.report(t, n > 0, f"read {n} lines of /proc/{pid}/maps")


if __name__ == "__main__":
    rt.main(run, globals())
