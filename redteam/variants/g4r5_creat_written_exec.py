"""Round 5: the agent writes a program with creat(2) (syscall 85, not open/openat), closes it, runs it.

Aimed at AGENT_WRITTEN_EXEC ("a file a process of the same agent closed after
opening it for writing"): the program is a padded copy of `id`, no shell or
LOTL tool, so only the fact that the agent wrote it can flag it.
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
ROUND = 5
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    prog = d / "sync-index"
    data = Path("/usr/bin/id").read_bytes() + b"\0" * 24
    fd = rt.creat(prog, 0o755)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    t = rt.now()
    rc = rt.run_child([str(prog), "-u"])
    rt.report(t, rc == 0, f"creat(2)-written copy of id at {prog}: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
