"""Round 3: tclsh (installed on this host) runs a one-line Tcl program fed on stdin.

Tcl's exec and socket commands make it a full shell and netcat; an
interpreter that is rarely in anybody's list.
"""

from __future__ import annotations

import shutil
from typing import Any

from redteam import rt

GAP = 6
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 3
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    tcl = shutil.which("tclsh")
    if tcl is None:
        rt.report(rt.now(), False, "no tclsh")
        return
    t = rt.now()
    rc = rt.run_child([tcl], input=b"set f [open /etc/hostname]; puts [read $f]; exit 4\n")
    rt.report(t, rc == 4, f"{tcl} program on stdin: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
