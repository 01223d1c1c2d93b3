"""Round 4: tmux if-shell: the tmux SERVER runs the "condition" as a shell command.

Another tmux command that makes the server run a job, besides
new-window, send-keys and run-shell.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 5
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    sock = args["daemons"]["tmux_sock"]
    t = rt.now()
    rc = rt.run_child(["tmux", "-S", sock, "if-shell", "-b", f"touch '{marker}'", "display-message ok"])
    ok = rc == 0 and rt.wait_file(marker)
    rt.report(t, ok, f"tmux if-shell -b: exit {rc}, marker {os.path.exists(marker)}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
