"""Round 7 benign act: index the workspace for navigation -- universal-ctags to JSON, jq to query it.

Editors' helpers and code-search tools build a tag index (``ctags -R
--output-format=json``) and agents filter JSON with ``jq``.  Two native
tools reading a small source tree and writing an index in scratch.
"""

from __future__ import annotations

import subprocess
from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 7
BENIGN = True
EXPECT = ()


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    src = d / "src"
    src.mkdir()
    for m in range(6):
        (src / f"m{m}.py").write_text(
            "".join(f"class C{m}_{i}:\n    def go(self):\n        return {i}\n\n" for i in range(10))
        )
    (src / "util.c").write_text(
        "int add(int a, int b) { return a + b; }\nstatic int twice(int x) { return 2 * x; }\n"
    )
    t = rt.now()
    r1 = subprocess.run(
        ["ctags", "-R", "--output-format=json", "-f", str(d / "tags.json"), str(src)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    r2 = subprocess.run(
        ["jq", "-s", "-r", '[.[] | select(.kind == "class")] | length', str(d / "tags.json")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    n = r2.stdout.strip()
    rt.report(
        t,
        r1.returncode == 0 and r2.returncode == 0 and n == "60",
        f"ctags -R json, jq classes: {n} (rc {r1.returncode}/{r2.returncode})",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
