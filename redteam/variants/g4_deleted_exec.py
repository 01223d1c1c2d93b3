"""Exec of a file that was deleted after it was opened (/proc/self/fd/N of an unlinked copy of id).

The binary no longer has a name anywhere on disk when it runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    scratch = Path(args["scratch"])
    exe = rt.copy_padded("/usr/bin/id", scratch / ".cache-id")
    fd = os.open(exe, os.O_RDONLY)
    exe.unlink()
    t = rt.now()
    rc = rt.run_child([f"/proc/self/fd/{fd}"], pass_fds=(fd,))
    os.close(fd)
    rt.report(t, rc == 0, f"exec of deleted {exe}: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
