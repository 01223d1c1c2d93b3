"""Round 4: inside the container's PID namespace, io_uring OPENAT+READ+WRITE of /proc/NSPID/mem.

No open/read/write syscall, and a namespace pid in the path the ring opens.
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
    addr = rt.target_addr(args, pid)
    lib = rt.native(args)
    t = rt.now()
    n = int(lib.rt_uring_open_rw(f"/proc/{pid}/mem".encode(), addr, 32))
    rt.report(t, n == 32, f"io_uring /proc/{pid}/mem in the namespace at {addr:#x}: {n} ({rt.errno_name(n)})")


if __name__ == "__main__":
    rt.main(run, globals())
