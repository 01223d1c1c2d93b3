"""The demo's L5 attack: an unrelated process PTRACE_ATTACHes to the agent (l5_ptrace).

Debugger-style injection entry point.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 0
MODE = "external"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    from h7.demo.attacks import l5_ptrace

    t = rt.now()
    l5_ptrace.run({"pid": int(args["pid"])})
    rt.report(t, True, f"PTRACE_ATTACH {args['pid']} and detach")


if __name__ in ("__main__",):
    rt.main(run, globals())
