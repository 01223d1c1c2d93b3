"""Round 4: from inside the container's PID namespace, write the agent's memory via openat2(/proc/NSPID/mem).

Two gaps at once: the namespace pid in the path, and openat2 instead of open/openat.
"""

from __future__ import annotations

import os
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
    addr = rt.target_addr(args, pid)
    t = rt.now()
    fd = rt.openat2(f"/proc/{pid}/mem", os.O_RDWR | os.O_CLOEXEC)
    n = rt.rewrite_mem(fd, addr)
    rt.report(t, n == 32, f"openat2(/proc/{pid}/mem) in the namespace: wrote {n} bytes at {addr:#x}")


if __name__ == "__main__":
    rt.main(run, globals())
