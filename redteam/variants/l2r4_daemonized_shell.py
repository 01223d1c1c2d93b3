"""Round 4: double fork + setsid; the grandchild waits until it is re-parented, then runs sh -c.

A daemonised tool: by the time the shell is exec'd its parent is no longer
in the agent's tree (the middle process has exited).
"""

from __future__ import annotations

import os
import time
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
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                parent = os.getppid()
                for _ in range(100):  # bounded: wait for the middle process to exit
                    if os.getppid() != parent:
                        break
                    time.sleep(0.02)
                time.sleep(1.0)
                os.execv("/bin/sh", ["sh", "-c", f"touch '{marker}'"])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    ok = rt.wait_file(marker, 15)
    rt.report(t, ok, f"daemonised sh -c touch: marker {'created' if ok else 'missing'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
