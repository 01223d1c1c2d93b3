"""Execveat(AT_EMPTY_PATH) of an O_PATH descriptor of a padded dash copy.

The exec names no path at all, only a descriptor.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = True
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    scratch = Path(args["scratch"])
    exe = rt.copy_padded("/bin/dash", scratch / "obj.bin", pad=b"\x7f" * 9)
    fd = os.open(exe, os.O_PATH)
    t = rt.now()
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(fd, ["cc1", "-c", "exit 0"], {})
        finally:
            os._exit(127)
    _, st = os.waitpid(pid, 0)
    os.close(fd)
    rc = os.waitstatus_to_exitcode(st)
    rt.report(t, rc == 0, f"execveat(O_PATH fd of {exe}): exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
