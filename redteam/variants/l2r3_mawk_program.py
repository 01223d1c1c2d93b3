"""Round 3: the agent runs an awk program (Debian's awk is mawk, reached through two symlinks).

awk is a full interpreter (GTFOBins lists it for shells and file reads);
here it reads /etc/passwd and writes a summary, spawning nothing.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 6
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 3
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    t = rt.now()
    rc = rt.run_child(["awk", "-F:", "{n++} END {exit (n > 0 ? 0 : 1)}", "/etc/passwd"])
    rt.report(t, rc == 0, f"awk over /etc/passwd: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
