"""Queue a job for atd: echo CMD | at now.

atd, a system daemon, runs the job from its own process tree.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 5
MODE = "inject"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    t = rt.now()
    rc = rt.run_child(["at", "now"], input=f"touch {marker}\n".encode())
    ok = rc == 0 and rt.wait_file(marker)
    rt.report(t, ok, f"exit {rc}, marker {'created' if os.path.exists(marker) else 'missing'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
