"""A padded dash copy run through the dynamic loader (ld.so PROGRAM).

The kernel executes the loader; the shell is only mapped by it.
"""

from __future__ import annotations

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
    exe = rt.copy_padded("/bin/dash", scratch / "fmt", pad=b"\0" * 3)
    t = rt.now()
    rc = rt.run_child(["/lib64/ld-linux-x86-64.so.2", str(exe), "-c", "exit 0"])
    rt.report(t, rc == 0, f"ld.so {exe} -c: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
