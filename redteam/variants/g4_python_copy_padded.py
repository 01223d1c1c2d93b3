"""A copy of the python3 interpreter, renamed to render and padded, run with -c.

An interpreter copy: the name says nothing and the size matches no installed binary.
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
    exe = rt.copy_padded(os.path.realpath("/usr/bin/python3"), scratch / "render", pad=b"\n" * 16)
    t = rt.now()
    rc = rt.run_child([str(exe), "-S", "-c", "pass"])
    rt.report(t, rc == 0, f"{exe} -c: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
