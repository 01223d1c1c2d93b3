"""The demo's L1 attack: a hidden cryptominer thread inside the agent (h7.demo.attacks.l1_miner).

Two CPU-bound threads for 6 s; no new process, file or connection.
"""

from __future__ import annotations

import time
from typing import Any

from redteam import rt

GAP = 0
MODE = "inject"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L1",)


def run(args: dict[str, Any]) -> None:
    from h7.demo.attacks import l1_miner

    t = rt.now()
    l1_miner.run({"seconds": 6.0, "threads": 2, "wait": False})
    rt.report(t, True, "2 mining threads started for 6 s")
    time.sleep(max(0.0, 6.0 - (rt.now() - t) / 1e9))  # the variant ends when the miner does


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
