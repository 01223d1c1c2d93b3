"""DEV benign act (session 25): a child-interpreter code tool at ordinary work, between snippets.

What a code agent's snippets do all day, run the way AutoGen (a file) and
LlamaIndex (``-c``) run them: one snippet writes a CSV, the next reads it and
writes a summary, a one-liner reads that summary, and a snippet runs a script
the agent wrote earlier and reads the JSON that script itself wrote.  Every
snippet run is the agent's own code under session 25's L3 rule; none of this
is a loop (what one snippet reads was written by another snippet or by
itself, never by a tool the snippet started).  Must stay silent on L3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redteam import rt
from redteam.variants._snippet import run_snippet

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = False
EXPECT = ()
BENIGN = True

WRITE = """
import csv
with open({p!r}, "w", newline="") as f:
    w = csv.writer(f); w.writerow(["k", "v"]); w.writerows([i, i * i] for i in range(200))
print("rows written")
"""
SUMMARISE = """
import csv, json, statistics
rows = list(csv.DictReader(open({p!r})))
json.dump({{"n": len(rows), "mean": statistics.mean(int(r["v"]) for r in rows)}}, open({s!r}, "w"))
print("summary written")
"""
READ = "import json; print(json.load(open({s!r}))['n'])"


def run(args: dict[str, Any]) -> None:
    scratch = Path(str(args["scratch"]))
    code = scratch / "code"
    data, summary = scratch / "rows.csv", scratch / "summary.json"
    helper = scratch / "tally.py"
    helper.parent.mkdir(parents=True, exist_ok=True)
    helper.write_text(
        "import json, pathlib, sys\n"
        "out = pathlib.Path(sys.argv[1]); out.write_text(json.dumps({'words': 42}))\n"
        "print(json.loads(out.read_text())['words'])\n"
    )
    t = rt.now()
    rcs = [
        run_snippet(WRITE.format(p=str(data)), code, "file").returncode,
        run_snippet(SUMMARISE.format(p=str(data), s=str(summary)), code, "inline").returncode,
        run_snippet(READ.format(s=str(summary)), code, "inline").returncode,
        run_snippet(
            f"import runpy, sys; sys.argv = ['tally', {str(scratch / 'tally.json')!r}]; "
            f"runpy.run_path({str(helper)!r})",
            code,
            "file",
        ).returncode,
    ]
    rt.report(t, rcs == [0, 0, 0, 0], f"four snippets in child interpreters: rcs {rcs}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
