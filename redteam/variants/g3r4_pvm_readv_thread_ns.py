"""Round 4: process_vm_readv of the containerised agent's SECOND thread, named by its namespace tid.

The thread id is a namespace tid of a non-leader thread: neither the host
pid nor the namespace pid of the agent.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = True
ROUND = 4
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    tid = rt.other_tid(pid)
    addr = rt.target_addr(args, pid)
    t = rt.now()
    n, _ = rt.pvm(tid, addr, None, 4096)
    rt.report(t, n == 4096, f"process_vm_readv(ns tid {tid} of ns pid {pid}): {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
