"""Tmux run-shell: the tmux server itself runs the command.

No pane, no window: the server process forks /bin/sh.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 5
MODE = "inject"
TARGET = "host"
HELD_OUT = True
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    d = args["daemons"]
    t = rt.now()
    rc = rt.run_child(["tmux", "-S", d["tmux_sock"], "run-shell", "-b", f"touch {marker}"])
    ok = rc == 0 and rt.wait_file(marker)
    rt.report(t, ok, f"exit {rc}, marker {'created' if os.path.exists(marker) else 'missing'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
