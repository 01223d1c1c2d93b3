"""Round 7: recon without maps -- /proc/PID/syscall, /proc/PID/auxv and /proc/PID/pagemap of the agent.

What an exploit needs before writing memory: the blocked syscall with its
stack and instruction pointers (``syscall`` needs the ptrace ATTACH access
check), the loader's addresses (``auxv``: AT_BASE, AT_ENTRY, AT_RANDOM) and
which heap pages are resident (``pagemap``).  Round 1's recon read maps.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 7
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid, addr = int(args["pid"]), int(args["addr"])
    t = rt.now()
    with open(f"/proc/{pid}/syscall") as f:
        sysc = f.read().split()
    with open(f"/proc/{pid}/auxv", "rb") as f:
        auxv = f.read()
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    try:
        entry = os.pread(fd, 8, (addr // os.sysconf("SC_PAGE_SIZE")) * 8)
    finally:
        os.close(fd)
    ok = len(sysc) >= 2 and len(auxv) >= 16 and len(entry) == 8
    rt.report(
        t,
        ok,
        f"syscall {' '.join(sysc[:1] + sysc[-2:])} (nr sp pc), auxv {len(auxv)} B, "
        f"pagemap entry {int.from_bytes(entry, 'little'):#x}",
    )


if __name__ == "__main__":
    rt.main(run, globals())
