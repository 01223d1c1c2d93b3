"""Benign margins of L1's and L4's judges on recorded DEVELOPMENT journals: peak / threshold.

    python tests/journals/drift/margins.py JOURNAL.h7j [...] [--set L1.key=value ...]

Replays each journal through L1 and L4 (the engine ``h7 replay`` runs) and
reports, over its benign part (before ``meta.change_ns`` or the first attack
the harness injected; an eval journal with its ``.marks.json`` beside it: the
end of its soak), the highest value of every judge against its bar:
per-batch divergence / threshold (``.batch``; ``.batch2``: the lesser of two
consecutive batches, what the per-batch judge with ``persist`` = 2 needs
over 1.0) and each CUSUM's S / h.  1.0 is an alert.
``--set`` overrides a channel setting (e.g. L1.min_events=60), to compare
choices on development data.  Never give it a held-out (``_test``) journal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from h7.config import EngineConfig
from h7.detect.engine import Engine
from h7.journal import read_journal

#: record.py's scenarios change at CHANGE_AT s after the recording starts (older _dev
#: journals do not carry change_ns): benign until then, less the ~7 s the injection came early
CHANGE_AT_S = 53.0


def benign_end(
    meta: dict[str, Any], first_ns: int, name: str, marks: dict[str, Any] | None = None
) -> int | None:
    if marks is not None and "wall_minus_mono_ns" in meta:
        # an eval journal (eval/cut_dev.py): benign until its soak ended
        return int(float(marks["marks"]["soak_end"]) * 1e9) - int(meta["wall_minus_mono_ns"])
    if name.startswith(("hog", "spin", "loadup")):
        return None  # benign throughout: the change is a CPU hog in another process
    if name.startswith(("miner10", "egress2x")) and meta.get("change_ns") is None:
        return first_ns + int(CHANGE_AT_S * 1e9)
    if meta.get("change_ns") is not None:
        return int(meta["change_ns"])
    attacks = meta.get("attacks") or []
    if attacks and "wall_minus_mono_ns" in meta:
        first = min(float(a["injected"]) for a in attacks)
        return int(first * 1e9) - int(meta["wall_minus_mono_ns"])
    return None


def margins(path: Path, settings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if "_test" in path.name:
        raise SystemExit(f"{path}: held-out journal, not for choosing settings")
    header, batches, _ = read_journal(path)
    cfg = EngineConfig(read_proc=False, channels=["L1", "L4"], channel_settings=settings)
    engine = Engine(cfg, header.agents)
    marks_file = path.with_suffix(".marks.json")
    marks = json.loads(marks_file.read_text()) if marks_file.exists() else None
    if marks is not None and marks.get("split") != "dev":
        raise SystemExit(f"{path}: an eval journal of a {marks.get('split')} stack: not for choosing")
    end = benign_end(header.meta, int(batches[0].t0_ns), path.name, marks)
    peak: dict[str, float] = {}
    #: the journals whose change is benign (hog, spin): the judges' peaks after it, apart
    hog_at = header.meta.get("change_ns") if path.name.startswith(("hog", "spin", "loadup")) else None
    hog: dict[str, float] = {}
    alerts: list[str] = []
    monitored = 0
    #: per-batch judges: the previous batch's ratio, for "two in a row" (what ``persist`` = 2 judges)
    prev: dict[str, float] = {}
    for b in batches:
        if end is not None and b.t1_ns > end:
            break
        got = engine.process(b)
        alerts += [f"{a.channel}:{a.code}:{a.evidence.get('metric')}:{a.evidence.get('window', 'batch')}"
                   f":{a.divergence:.4g}/{a.threshold:.4g}" for a in got]  # fmt: skip
        if engine.phase != "monitoring":
            continue
        monitored += 1
        pk = hog if hog_at is not None and b.t1_ns > int(hog_at) else peak
        for ag in engine.status()["agents"].values():
            for name, ch in ag["channels"].items():
                if name not in ("L1", "L4"):
                    continue
                thr = ch.get("threshold") or 0
                if thr:
                    k = f"{name}.batch"
                    r = float(ch.get("divergence") or 0) / thr
                    pk[k] = max(pk.get(k, 0.0), r)
                    # the lesser of two consecutive batches: the per-batch judge's bar with persist = 2
                    pk[f"{k}2"] = max(pk.get(f"{k}2", 0.0), min(r, prev.get(k, 0.0)))
                    prev[k] = r
                for m, w in (ch.get("window") or {}).items():
                    if isinstance(w, dict) and w.get("h"):
                        k = f"{name}.cusum.{m}"
                        pk[k] = max(pk.get(k, 0.0), float(w["cusum"]) / float(w["h"]))
    return {
        "journal": path.name,
        "monitored_s": monitored * cfg.batch_ns / 1e9,
        "peak_of_bar": {k: round(v, 3) for k, v in sorted(peak.items())},
        "alerts": alerts,
        **({"peak_of_bar_under_hog": {k: round(v, 3) for k, v in sorted(hog.items())}} if hog else {}),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("journals", nargs="+", type=Path)
    ap.add_argument("--set", action="append", default=[], help="CH.key=value (JSON value)")
    a = ap.parse_args()
    settings: dict[str, dict[str, Any]] = {}
    for s in a.set:
        k, v = s.split("=", 1)
        ch, key = k.split(".", 1)
        settings.setdefault(ch, {})[key] = json.loads(v)
    for p in a.journals:
        print(json.dumps(margins(p, settings)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
