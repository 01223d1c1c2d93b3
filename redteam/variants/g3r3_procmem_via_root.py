"""Round 3: from the host, write the namespaced agent's memory through /proc/HOSTPID/root/proc/NSPID/mem.

The container's own procfs, reached through the agent's root directory link:
the path names the agent by its namespace pid under another pid's root.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 3
MODE = "external"
TARGET = "ns"
HELD_OUT = True
ROUND = 3
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    host_pid = int(args["pid"])
    addr = rt.target_addr(args, host_pid)
    nspid = int(args["ns_pid_of_target"])
    path = f"/proc/{host_pid}/root/proc/{nspid}/mem"
    t = rt.now()
    fd = os.open(path, os.O_RDWR)
    try:
        data = os.pread(fd, 16, addr)
        n = os.pwrite(fd, data, addr)
    finally:
        os.close(fd)
    rt.report(t, n == len(data), f"{path}: wrote {n} bytes at {addr:#x}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
