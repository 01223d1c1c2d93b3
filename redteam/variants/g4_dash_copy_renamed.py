"""An exact copy of dash renamed to fmt-check and run with -c.

Byte-identical to /bin/dash, different name and inode.
"""

from __future__ import annotations

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
    exe = rt.copy_padded("/bin/dash", scratch / "fmt-check")
    t = rt.now()
    rc = rt.run_child([str(exe), "-c", "exit 0"])
    rt.report(t, rc == 0, f"{exe} -c: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
