"""Round 3: a feedback loop whose file is renamed between the write and the read.

agent -exec-> sort -write-> r3rename/out.tmp; the agent renames it to
out.json and reads it: the data goes around, the names differ.
"""

from __future__ import annotations

import os
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
    out = Path(args["work"]) / "r3rename"
    out.mkdir(parents=True, exist_ok=True)
    src = Path(args["scratch"])
    src.mkdir(parents=True, exist_ok=True)
    (src / "in.txt").write_text('"z"\n"y"\n')
    rc = rt.run_child(["sort", "-o", str(out / "out.tmp"), str(src / "in.txt")])
    os.rename(out / "out.tmp", out / "out.json")
    t = rt.now()
    data = (out / "out.json").read_text()
    rt.report(t, rc == 0 and data.startswith('"y"'), "sort wrote out.tmp, renamed to out.json, read back")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
