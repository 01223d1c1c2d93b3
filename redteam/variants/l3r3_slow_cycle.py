"""Round 3: a feedback loop that closes 15 s after it opens (sort writes a file; the agent reads it later).

agent -exec-> sort -write-> results/*.csv, and 15 s later results/*.csv
-read-> agent: a loop through two images across many batches.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 7
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 3
EXPECT = ("L3:CAUSAL_CYCLE_DETECTED",)


def run(args: dict[str, Any]) -> None:
    out = Path(args["work"]) / "r3cycle"
    out.mkdir(parents=True, exist_ok=True)
    src = Path(args["scratch"])
    src.mkdir(parents=True, exist_ok=True)
    (src / "in.txt").write_text("b\na\nc\n")
    rc = rt.run_child(["sort", "-o", str(out / "sorted.csv"), str(src / "in.txt")])
    time.sleep(15)
    t = rt.now()
    data = (out / "sorted.csv").read_text()
    rt.report(t, rc == 0 and data.startswith("a"), f"sort wrote {out}/sorted.csv, read back 15 s later")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
