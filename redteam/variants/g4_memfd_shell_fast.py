"""Dash loaded into a memfd and executed from a forked child that exits within milliseconds.

fexecve of an anonymous in-memory file: there is no path, and the process is gone
before anyone can read /proc.
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
    fd = os.memfd_create("kworker", 0)
    os.write(fd, Path("/bin/dash").read_bytes())
    t = rt.now()
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(fd, ["sh", "-c", "exit 0"], {"PATH": "/usr/bin:/bin"})
        finally:
            os._exit(127)
    _, st = os.waitpid(pid, 0)
    os.close(fd)
    rc = os.waitstatus_to_exitcode(st)
    rt.report(t, rc == 0, f"memfd exec of dash: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
