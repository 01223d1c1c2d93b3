"""The demo's L3 attack: write a script, run it, read back its output (h7.demo.attacks.l3_cycle).

A feedback loop through two program images the baseline graph never had.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 0
MODE = "inject"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L3",)


def run(args: dict[str, Any]) -> None:
    from h7.demo.attacks import l3_cycle

    t = rt.now()
    l3_cycle.run({})
    rt.report(t, True, "stage2 written, run twice, output read back")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
