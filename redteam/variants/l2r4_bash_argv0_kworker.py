"""Round 4: bash started with argv[0] "[kworker/u4:2]" (a kernel-thread disguise) running a command.

The command name the process shows is a kernel worker's; the exec'd file is bash.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 6
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    t = rt.now()
    pid = os.posix_spawn(
        "/bin/bash", ["[kworker/u4:2]", "-c", f"touch '{marker}'"], {"PATH": "/usr/bin:/bin"}
    )
    _, st = os.waitpid(pid, 0)
    rc = os.waitstatus_to_exitcode(st)
    ok = rc == 0 and os.path.exists(marker)
    rt.report(t, ok, f"bash as [kworker/u4:2]: exit {rc}, marker {os.path.exists(marker)}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
