"""Process_vm_readv naming a non-leader thread id of the agent instead of its pid.

The memory is shared by all threads, so any tid of the agent opens it.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid, proc = int(args["pid"]), args.get("proc", "/proc")
    tids = sorted(int(x) for x in os.listdir(f"{proc}/{pid}/task") if int(x) != pid)
    tid = tids[0] if tids else pid
    lo = rt.target_addr(args, pid, proc)
    t = rt.now()
    n, _ = rt.pvm(tid, lo, None, 4096)
    rt.report(t, n == 4096, f"process_vm_readv(tid {tid} of {pid}): {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
