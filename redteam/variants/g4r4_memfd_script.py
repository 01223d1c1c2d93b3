"""Round 4: a shell SCRIPT (#!/bin/sh) in a memfd, exec'd via /proc/self/fd: fileless, through binfmt_script.

The exec'd file is an anonymous script; the kernel starts /bin/sh on it.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    fd = os.memfd_create("cfg", 0)
    os.write(fd, f"#!/bin/sh\ntouch '{marker}'\n".encode())
    try:
        t = rt.now()
        rc = rt.run_child([f"/proc/self/fd/{fd}"], pass_fds=(fd,))
    finally:
        os.close(fd)
    ok = rc == 0 and os.path.exists(marker)
    rt.report(t, ok, f"memfd script via /proc/self/fd/{fd}: exit {rc}, marker {os.path.exists(marker)}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
