"""The static busybox copied as indexer and run with argv[0] sh (its shell applet).

A self-contained shell that shares no bytes with the host's shells.
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
    exe = rt.copy_padded("/bin/busybox", scratch / "indexer")
    t = rt.now()
    rc = rt.run_child(["sh", "-c", "exit 0"], executable=str(exe))
    rt.report(t, rc == 0, f"{exe} as sh -c: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
