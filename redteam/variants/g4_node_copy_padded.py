"""A copy of node renamed to bundle and padded, run with -e.

A JavaScript runtime copy, the Node-agent case.
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
    exe = rt.copy_padded(os.path.realpath("/usr/bin/node"), scratch / "bundle", pad=b"\0")
    t = rt.now()
    rc = rt.run_child([str(exe), "-e", "0"])
    rt.report(t, rc == 0, f"{exe} -e: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
