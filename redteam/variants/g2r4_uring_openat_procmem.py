"""Round 4: open, read and write the agent's /proc/PID/mem entirely through io_uring (OPENAT/READ/WRITE).

No open, read or write syscall: the ops run inside io_uring_enter (or an
io-wq worker), so a hook on the open syscall's arguments sees nothing.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    addr = rt.target_addr(args, pid)
    lib = rt.native(args)
    t = rt.now()
    n = int(lib.rt_uring_open_rw(f"/proc/{pid}/mem".encode(), addr, 32))
    rt.report(
        t, n == 32, f"io_uring OPENAT+READ+WRITE /proc/{pid}/mem at {addr:#x}: {n} ({rt.errno_name(n)})"
    )


if __name__ == "__main__":
    rt.main(run, globals())
