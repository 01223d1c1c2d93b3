"""A harmless binary (true) executed from a memfd.

Exec of an anonymous file is suspicious whatever it contains: droppers run payloads this way.
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
    fd = os.memfd_create("update", 0)
    os.write(fd, Path("/usr/bin/true").read_bytes())
    t = rt.now()
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(fd, ["true"], {})
        finally:
            os._exit(127)
    _, st = os.waitpid(pid, 0)
    os.close(fd)
    rc = os.waitstatus_to_exitcode(st)
    rt.report(t, rc == 0, f"memfd exec of true: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
