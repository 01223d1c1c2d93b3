"""Re-judge recorded eval runs with this tree's detectors: `h7 replay` of each stack's journal, same table.

    .venv/bin/python eval/replay.py /var/tmp/h7-eval-journals/<commit> [--stacks langgraph,mcp]

`make eval` keeps each stack's journal (``h7 attach --journal``: every batch
the sensor judged) with its marks beside it (``<stack>.marks.json``: the
run's config, baseline length, soak and attack times).  This replays each
journal through the current tree's engine with the run's own config and
baseline, places the replayed verdicts in the run's baseline / soak / attack
windows exactly as the live figures were (eval/metrics.py), and prints the
same tables: a detector change is shown on the very kernel activity the live
table was measured on, without a new run under other load.

Replay is not the live run: its act -> certificate latencies are not measured
(no signing; shown as 0 ms), and what only /proc could tell at the time is
not read.  By default only the development stacks are replayed; held-out
stacks are for reporting (``--held-out``), never for choosing a setting.

``--live RESULTS`` (the harness's ``eval/results`` of the same run) also
checks replay parity: which live certificates the replay re-derives (same
channel, code, key and act time within 1 ms).  On the tree that ran, anything
not re-derived is something the journal does not carry (a live /proc read, a
kernel-side decision): the replayed tables of later trees silently lack it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from corpus import STACKS  # noqa: E402
from harness import journal_stats, run_commit  # noqa: E402
from metrics import corpus_summary, judge_of, markdown, stack_summary  # noqa: E402

#: every stack the harness runs, in its order (the one list of them: eval/corpus.py STACKS)
ORDER = tuple(s.name for s in STACKS)
DEV = ("langgraph", "mcp")


def replay_run(journal: Path, marks: dict[str, Any], python: str = sys.executable) -> dict[str, Any]:
    """One stack's journal through `h7 replay`, returned in the shape eval/metrics.py reads."""
    from h7.journal import JournalReader

    with JournalReader(journal) as r:
        off = int(r.header.meta.get("wall_minus_mono_ns", 0))
    with tempfile.TemporaryDirectory(prefix="h7-eval-replay-") as tmp:
        cmd = [python, "-m", "h7", "replay", str(journal), "--json"]
        cmd += ["--baseline", f"{float(marks.get('baseline_s') or 30):g}s"]
        if marks.get("config"):
            cfg = Path(tmp) / "h7.toml"
            cfg.write_text(str(marks["config"]))
            cmd += ["--config", str(cfg)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"h7 replay {journal}: rc {out.returncode}: {out.stderr.strip()[-500:]}")
    certs = []
    for line in out.stdout.splitlines():
        if not line.startswith("{"):
            continue
        a = json.loads(line)
        ev = a.get("evidence") if isinstance(a.get("evidence"), dict) else {}
        certs.append(
            {
                "sig_ok": True,
                "channel": str(a["channel"]),
                "code": str(a["code"]),
                "divergence": float(a.get("divergence") or 0.0),
                "threshold": float(a.get("threshold") or 0.0),
                "ts": (int(a["ts_ns"]) + off) / 1e9,  # kernel -> wall time, as the live certificates
                "act_to_cal_ms": 0.0,  # not measured by a replay
                "key": str(a.get("key", "")),
                "suppressed": int(a.get("suppressed", 0) or 0),
                "evidence": json.dumps(ev, default=str, sort_keys=True)[:400],
                "judge": judge_of(ev),
            }
        )
    summary = out.stderr.strip().splitlines()[-1:] or [""]
    return {
        "stack": marks.get("stack") or journal.stem,
        "split": marks.get("split"),
        "ok": True,
        "wait_s": marks.get("wait_s") or 45.0,
        "soak_s": marks.get("soak_s"),
        "marks": marks.get("marks") or {},
        "attacks": marks.get("attacks") or [],
        "certs": certs,
        "h7_commit": run_commit(),
        "main_commit": "",
        "journal": {"path": str(journal), **journal_stats(journal)},
        "replay": summary[0],
    }


def parity(
    live: list[dict[str, Any]], replayed: list[dict[str, Any]], tol_ms: float = 1.0
) -> dict[str, list[dict[str, Any]]]:
    """Live certificates the replay re-derives, those it does not, and replay-only verdicts.

    Matched on channel, code, key and act time: the act time within ``tol_ms``
    because the replay maps kernel time to wall time with the journal's one
    offset, the sensor with its own reading of the clocks.  Unsigned or
    unverified live entries are not certificates and are left out.
    """

    def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return (a["channel"], a["code"], a.get("key", "")) == (
            b["channel"],
            b["code"],
            b.get("key", ""),
        ) and abs(float(a["ts"]) - float(b["ts"])) * 1000 <= tol_ms

    certs = [c for c in live if c.get("sig_ok") and "channel" in c]
    return {
        "reproduced": [c for c in certs if any(same(c, r) for r in replayed)],
        "not_reproduced": [c for c in certs if not any(same(c, r) for r in replayed)],
        "replay_only": [r for r in replayed if not any(same(c, r) for c in certs)],
    }


def parity_lines(raw: list[dict[str, Any]], live_dir: Path) -> list[str]:
    """One line per replayed stack (and a total) comparing it with the live results in ``live_dir``."""
    lines, got, total = [], 0, 0
    for r in raw:
        p = live_dir / f"{r['stack']}.json"
        if not p.exists():
            lines.append(f"parity {r['stack']}: no live results in {live_dir}")
            continue
        live = json.loads(p.read_text()).get("certs", [])
        end = (r.get("marks") or {}).get("end")
        if end is not None:  # a dev cut (eval/cut_dev.py) ends before the held-out variants' certificates
            live = [c for c in live if "ts" not in c or float(c["ts"]) < float(end)]
        par = parity(live, r["certs"])
        n_ok, n = len(par["reproduced"]), len(par["reproduced"]) + len(par["not_reproduced"])
        got, total = got + n_ok, total + n
        lines.append(f"parity {r['stack']}: {n_ok}/{n} live certificates re-derived")
        for tag, cs in (("not re-derived", par["not_reproduced"]), ("replay only", par["replay_only"])):
            for c in cs:
                key = str(c.get("key", ""))[:60]
                lines.append(f"  {tag}: {c['channel']} {c['code']} key={key} ts={c['ts']:.3f}")
    lines.append(f"parity total: {got}/{total} live certificates re-derived")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path, help="a journal directory of make eval: <EVAL_JOURNALS>/<commit>")
    ap.add_argument("--stacks", default=",".join(DEV), help="comma-separated (default: the dev stacks)")
    ap.add_argument(
        "--held-out", action="store_true", help="allow held-out stacks (reporting only: never tune on them)"
    )
    ap.add_argument("--out", type=Path, default=None, help="also write the figures here (JSON, raw included)")
    ap.add_argument(
        "--summary",
        type=Path,
        default=None,
        help="also write the figures without the raw certificates (what eval/results/replay-*.json keeps)",
    )
    ap.add_argument(
        "--live",
        type=Path,
        default=None,
        help="the same run's live results (eval/results/<stack>.json): which certificates replay re-derives",
    )
    a = ap.parse_args()
    want = [x for x in a.stacks.split(",") if x]
    held = [x for x in want if x not in DEV]
    if held and not a.held_out:
        sys.exit(f"eval/replay: {', '.join(held)} held out: reporting only, pass --held-out to replay them")
    raw = []
    for name in ORDER:
        j = a.dir / f"{name}.h7j"
        if name not in want or not j.exists():
            continue
        marks_file = j.with_suffix(".marks.json")
        if not marks_file.exists():
            sys.exit(f"eval/replay: {marks_file} missing: cannot place the verdicts in the run's windows")
        print(f"replaying {j} ...", file=sys.stderr, flush=True)
        raw.append(replay_run(j, json.loads(marks_file.read_text())))
    if not raw:
        sys.exit(f"eval/replay: no journal of {', '.join(want)} in {a.dir}")
    stacks = [stack_summary(r) for r in raw]
    corpus = corpus_summary(stacks)
    label = f"replay of the {a.dir.name} journals (latencies not measured)"
    print(markdown(stacks, corpus, label))
    if a.live is not None:
        print("\n".join(parity_lines(raw, a.live)))
    if a.out is not None:
        figures = {"label": label, "corpus": corpus, "stacks": stacks, "raw": raw}
        a.out.write_text(json.dumps(figures, indent=1))
    if a.summary is not None:
        summary = {
            "label": label,
            "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "replayed_on": run_commit(),
            "journals": str(a.dir),
            "corpus": corpus,
            "stacks": stacks,
        }
        a.summary.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
