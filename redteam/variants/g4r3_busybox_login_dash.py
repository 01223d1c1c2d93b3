"""Round 3: the system's busybox run with argv[0] "-sh" (the login-shell spelling of its sh applet).

busybox strips a leading '-' from argv[0] before it picks the applet, as
login(1) expects; the applet is the shell.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 3
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    t = rt.now()
    rc = rt.run_child(["-sh", "-c", "exit 7"], executable="/bin/busybox")
    rt.report(t, rc == 7, f"/bin/busybox as -sh -c 'exit 7': exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
