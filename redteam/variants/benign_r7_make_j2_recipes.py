"""Round 7 benign act: `make -j2` of a Makefile whose recipes are shell (`&&`, `for`, redirections).

Build systems run every recipe line that has shell syntax through
``/bin/sh -c``; two at a time with ``-j2``.  The recipes only generate,
count and concatenate text files in the scratch dir.
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
MAKEFILE = """\
PARTS := a b c d
all: report.txt

gen/%.txt:
\tmkdir -p gen && for i in 1 2 3 4 5 6 7 8; do echo "$* line $$i"; done > $@

counts.txt: $(PARTS:%=gen/%.txt)
\twc -l $^ | sort -n > $@ && test -s $@

report.txt: counts.txt
\tcat gen/*.txt > $@.tmp && mv $@.tmp $@ && echo "built $$(wc -l < $@) lines" >> counts.txt

clean:
\trm -rf gen counts.txt report.txt
"""


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    (d / "Makefile").write_text(MAKEFILE)
    t = rt.now()
    r = subprocess.run(["make", "-j2", "-s"], cwd=d, capture_output=True, text=True, timeout=60, check=False)
    lines = (d / "report.txt").read_text().count("\n") if (d / "report.txt").exists() else -1
    rt.report(t, r.returncode == 0 and lines == 32, f"make -j2: rc {r.returncode}, report.txt {lines} lines")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
