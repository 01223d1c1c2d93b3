"""Round 4: the system's own bash (not a copy) run through the dynamic loader: ld.so /bin/bash -c.

The exec'd file is ld-linux; bash is only mapped by it, never exec'd.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L2",)
LDSO = "/lib64/ld-linux-x86-64.so.2"


def run(args: dict[str, Any]) -> None:
    t = rt.now()
    rc = rt.run_child([LDSO, "/bin/bash", "-c", "exit 7"])
    rt.report(t, rc == 7, f"{LDSO} /bin/bash -c 'exit 7': exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
