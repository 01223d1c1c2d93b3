"""A copy of dash with 4 KiB of random bytes appended, renamed to lint.

Padding far past the ELF end leaves the program working and its hash unrecognisable.
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
    exe = rt.copy_padded("/bin/dash", scratch / "lint", pad=os.urandom(4096))
    t = rt.now()
    rc = rt.run_child([str(exe), "-c", "exit 0"])
    rt.report(t, rc == 0, f"{exe} -c: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
