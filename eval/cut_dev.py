"""Copy a make-eval run's DEV journals for the other engineers, cut before the first held-out attack.

    .venv/bin/python eval/cut_dev.py /var/tmp/h7-eval-journals/<commit> /work/team/data/eval-dev/full-<commit>

Why: detection settings are chosen on the development stacks' journals only
(docs/evaluation.md "Held-out discipline").  A dev stack's own run also ends
with the held-out attack VARIANTS, which nobody may tune on; this keeps the
baseline, the soak and the dev attacks (every batch that ENDS before the first
held-out variant was injected) and drops the rest, with marks that list the
dev attacks only.  Held-out stacks are refused: their journals are for
reporting, once, at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEV = ("langgraph", "mcp")


def cut_marks(marks: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
    """The marks of the dev part of a run and the wall time it is cut at (None: nothing held out)."""
    held = [float(a["injected"]) for a in marks.get("attacks", []) if a.get("split") != "dev"]
    cut = min(held) if held else None
    out = dict(marks)
    out["attacks"] = [
        a
        for a in marks.get("attacks", [])
        if a.get("split") == "dev" and (cut is None or float(a["injected"]) < cut)
    ]
    if cut is not None:
        out["marks"] = {k: v for k, v in (marks.get("marks") or {}).items() if float(v) < cut}
        out["marks"]["end"] = cut
        out["note"] = f"held-out attack windows cut off at wall {cut:.3f} (eval/cut_dev.py)"
    return out, cut


def cut_journal(src: Path, dst: Path, cut_wall: float | None) -> tuple[int, int]:
    """Write the batches of ``src`` that end before ``cut_wall`` (wall seconds) to ``dst``: (kept, total)."""
    from h7.journal import JournalHeader, JournalReader, JournalWriter

    kept = total = 0
    with JournalReader(src) as r:
        meta = dict(r.header.meta)
        off = int(meta.get("wall_minus_mono_ns", 0))
        limit = None if cut_wall is None else int(cut_wall * 1e9) - off  # kernel clock
        if limit is not None:
            meta["cut"] = f"batches ending before the first held-out attack variant (wall {cut_wall:.3f})"
        meta["source"] = str(src)
        hdr = JournalHeader(r.header.host, r.header.agents, r.header.start_ns, r.header.batch_ns, meta=meta)
        with JournalWriter(dst, hdr) as w:
            for b in r:
                total += 1
                if limit is None or b.t1_ns < limit:
                    w.write(b)
                    kept += 1
    return kept, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="<EVAL_JOURNALS>/<commit> of a make eval run")
    ap.add_argument("dst", type=Path, help="where the cut dev copies go")
    ap.add_argument("--stacks", default=",".join(DEV), help="dev stacks only (comma-separated)")
    a = ap.parse_args()
    want = [x for x in a.stacks.split(",") if x]
    if any(x not in DEV for x in want):
        sys.exit(f"eval/cut_dev: only the dev stacks ({', '.join(DEV)}) may be handed out")
    a.dst.mkdir(parents=True, exist_ok=True)
    for name in want:
        j = a.src / f"{name}.h7j"
        m = j.with_suffix(".marks.json")
        if not (j.exists() and m.exists()):
            print(f"{name}: no journal + marks in {a.src} (yet)", file=sys.stderr)
            continue
        marks, cut = cut_marks(json.loads(m.read_text()))
        kept, total = cut_journal(j, a.dst / j.name, cut)
        (a.dst / m.name).write_text(json.dumps(marks, indent=1) + "\n")
        print(f"{name}: {kept}/{total} batches kept -> {a.dst / j.name}")


if __name__ == "__main__":
    main()
