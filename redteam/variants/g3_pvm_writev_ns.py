"""Process_vm_writev into a containerised agent from inside its PID namespace.

The gap-2 memory write, with the target named by its namespace pid.
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
    lo = rt.target_addr(args, pid)
    t = rt.now()
    _, data = rt.pvm(pid, lo, None, 64)
    n, _ = rt.pvm(pid, lo, data)
    rt.report(t, n == 64, f"process_vm_writev(ns pid {pid}, {lo:#x}): {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
