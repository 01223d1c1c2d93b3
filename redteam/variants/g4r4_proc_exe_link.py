"""Round 4: exec a shell through another process's /proc/PID/exe (a running dash's), naming no shell path.

The exec'd path is a magic link; the kernel resolves it to the dash binary
that a daemon on the host is running.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L2",)


def _shell_pid() -> int | None:
    me = os.getpid()
    for e in sorted(os.listdir("/proc"), key=lambda x: (not x.isdigit(), x)):
        if not e.isdigit() or int(e) == me:
            continue
        try:
            if os.path.basename(os.readlink(f"/proc/{e}/exe")) in ("dash", "bash"):
                return int(e)
        except OSError:
            continue
    return None


def run(args: dict[str, Any]) -> None:
    pid = _shell_pid()
    if pid is None:
        rt.report(rt.now(), False, "no running dash/bash found")
        return
    link = f"/proc/{pid}/exe"
    t = rt.now()
    rc = rt.run_child([link, "-c", "exit 4"])
    rt.report(t, rc == 4, f"exec {link} ({os.readlink(link)}) -c 'exit 4': exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
