"""Process_vm_readv naming a non-leader thread id of the agent instead of its pid.

The memory is shared by all threads, so any tid of the agent opens it.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid, proc = int(args["pid"]), args.get("proc", "/proc")
    tid = rt.other_tid(pid, proc)
    lo = rt.target_addr(args, pid, proc)
    t = rt.now()
    n, _ = rt.pvm(tid, lo, None, 4096)
    rt.report(t, n == 4096, f"process_vm_readv(tid {tid} of {pid}): {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
