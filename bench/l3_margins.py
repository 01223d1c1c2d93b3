"""L3's benign margins and attack verdicts on recorded journals, for one checkout or two.

Replays full-syscall journals (``h7 record``, the eval/red-team recorders,
tests/journals/*) through the engine exactly as ``h7 replay`` does and reports,
per journal, what L3 judged in every batch after its baseline:

* the calibrated STRUCTURAL_DRIFT threshold and its scales;
* the benign peak: the highest divergence / threshold over the benign batches
  (< 1 is silent; the margin is how far below 1), with the three worst batches,
  and the peaks of its two terms (graph units, sequence units) separately;
* the L3 verdicts the channel raised (before folding), benign and per attack.

Journals recorded by the eval harness carry their phases in the header, or
in a ``<stack>.marks.json`` beside the journal (``marks``: monitoring,
soak_end; ``attacks``: injected times): the soak is
benign, each attack runs until the next one is injected.  Held-out attacks
(eval/attacks.py ``split == "held-out"``) are never reported: their windows
are dropped, so nothing here can be tuned on them.  A journal without marks is
reported whole after its baseline (``--benign-until S`` marks how many seconds
from its start are benign work).

``--ref REF`` (repeatable) replays the same journals with the detection code
of git revision REF too (its ``h7/`` extracted to a temporary directory, run in
a subprocess with this interpreter) and prints the figures side by side:
``python -m bench.l3_margins --ref main /var/tmp/l3j/*.h7j``.  A revision older
than the journal's record layout cannot read it (e.g. journals recorded after
drift's 262121f stats change need a revision that has it): the replay then
fails with that revision's journal error.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAX_BATCHES = 2_000_000  # bound on batches replayed per journal


def _held_out_ids() -> set[str]:
    try:
        sys.path.insert(0, str(ROOT))
        from eval.attacks import DEFINED

        return {a.id for a in DEFINED if a.split == "held-out"}
    except Exception:  # the eval package cannot be imported: treat every L*-id variant as unknown
        return set()


def _open_journal(path: Path, tmp: Path) -> Path:
    if path.suffix == ".gz":
        raw = tmp / path.stem
        with gzip.open(path, "rb") as src, raw.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        return raw
    return path


def measure(path: Path, baseline_s: float, benign_until: float | None) -> dict[str, Any]:
    """Replay one journal with the h7 on sys.path; L3 figures per phase."""
    from h7.config import EngineConfig
    from h7.detect.channels import l3_causal
    from h7.detect.engine import Engine
    from h7.journal import JournalReader

    raw_alerts: list[Any] = []
    orig = l3_causal.CausalChannel.judge

    def judge(self: Any, batch: Any, ctx: Any) -> Any:
        out = orig(self, batch, ctx)
        raw_alerts.extend(out)
        return out

    l3_causal.CausalChannel.judge = judge  # type: ignore[method-assign]
    held = _held_out_ids()
    with tempfile.TemporaryDirectory() as td:
        reader = JournalReader(_open_journal(path, Path(td)))
        meta = dict(reader.header.meta or {})
        side = _marks_file(path)
        if "marks" not in meta and side is not None:  # `h7 attach --journal` + the eval harness's marks
            extra = json.loads(side.read_text())
            meta.update({k: extra[k] for k in ("marks", "attacks") if k in extra})
        off = int(meta.get("wall_minus_mono_ns", 0))
        marks = meta.get("marks") or {}
        attacks = sorted(meta.get("attacks") or [], key=lambda a: float(a["injected"]))
        engine = Engine(
            EngineConfig(baseline_ns=int(baseline_s * 1e9), read_proc=False), reader.header.agents
        )
        t0: int | None = None
        phases: dict[str, dict[str, Any]] = {}
        chan: Any = None
        for i, batch in enumerate(reader):
            if i >= MAX_BATCHES:
                break
            t0 = int(batch.t0_ns) if t0 is None else t0
            del raw_alerts[:]
            engine.process(batch)
            chans = [ch for st in engine.agents.values() for ch in st.channels if ch.name == "L3"]
            live: list[Any] = [ch for ch in chans if ch.baselined]
            if not live:
                continue
            chan = live[0]
            rel = (int(batch.t1_ns) - t0) / 1e9
            phase = _phase(rel, (int(batch.t1_ns) + off) / 1e9, marks, attacks, benign_until)
            if phase is None or phase.split(":", 1)[-1] in held:
                continue
            ph = phases.setdefault(phase, {"batches": 0, "worst": [], "alerts": [], "peak_units": [0.0, 0.0]})
            ph["batches"] += 1
            for ch in live:
                d = float(ch.last.get("divergence", 0.0))
                thr = float(ch.cal.threshold)
                g_units = float(ch.last.get("graph", 0.0)) / ch.g_scale
                ph["peak_units"][0] = round(max(ph["peak_units"][0], g_units), 3)
                ph["peak_units"][1] = round(max(ph["peak_units"][1], d - g_units), 3)
                ph["worst"].append(
                    {
                        "t_s": round(rel, 1),
                        "ratio": round(d / thr, 3) if thr else 0.0,
                        "d": round(d, 3),
                        "graph": ch.last.get("graph", 0),
                        "seq_nats": round(float(ch.last.get("sequence", 0.0)), 3),
                    }
                )
            for a in raw_alerts:
                ev = a.evidence or {}
                ph["alerts"].append(
                    {
                        "t_s": round(rel, 1),
                        "code": a.code,
                        "d": round(float(a.divergence), 3),
                        "threshold": round(float(a.threshold), 3),
                        "new": (ev.get("new_nodes") or ev.get("new_edges_in_cycle") or [])[:6],
                    }
                )
        l3_causal.CausalChannel.judge = orig  # type: ignore[method-assign]
    for ph in phases.values():
        ph["worst"] = sorted(ph["worst"], key=lambda w: -w["ratio"])[:3]
        ph["peak_ratio"] = ph["worst"][0]["ratio"] if ph["worst"] else 0.0
    cal = chan.cal.to_dict() if chan is not None else {}
    return {
        "journal": str(path),
        "threshold": cal.get("threshold"),
        "calibration": cal.get("method"),
        "g_scale": getattr(chan, "g_scale", None),
        "s_med": getattr(chan, "s_med", None),
        "s_spread": getattr(chan, "s_spread", None),
        "phases": phases,
    }


def _marks_file(path: Path) -> Path | None:
    """``<stack>.marks.json`` next to ``<stack>.h7j[.gz]`` (eval's harness writes it), if any."""
    stem = path.name.removesuffix(".gz").removesuffix(".h7j")
    side = path.with_name(f"{stem}.marks.json")
    return side if side.is_file() else None


def _phase(
    rel: float, wall: float, marks: dict[str, Any], attacks: list[dict[str, Any]], benign_until: float | None
) -> str | None:
    if not marks:
        if benign_until is not None:
            return "benign" if rel <= benign_until else "attacks"
        return "monitoring"
    if wall < float(marks.get("monitoring", 0.0)):
        return None
    if wall <= float(marks.get("soak_end", float("inf"))) or not attacks:
        return "soak"
    cur = None
    for a in attacks:
        if wall >= float(a["injected"]):
            cur = a
    return f"attack:{cur['id']}" if cur is not None else "between"


def _run_ref(ref: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="l3ref-") as td:
        arch = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref, "h7"], capture_output=True, check=False, timeout=120
        )
        if arch.returncode != 0:
            raise SystemExit(f"l3_margins: cannot read h7/ at {ref}: {arch.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", td], input=arch.stdout, check=True, timeout=120)
        env = dict(os.environ, PYTHONPATH=td)
        cmd = [
            sys.executable,
            "-c",
            _CHILD,
            json.dumps([str(p.resolve()) for p in args.journals]),
            str(args.baseline_s),
        ]
        cmd.append("" if args.benign_until is None else str(args.benign_until))
        out = subprocess.run(cmd, env=env, capture_output=True, check=False, timeout=3600, cwd=td)
        if out.returncode != 0:
            raise SystemExit(f"l3_margins: replay at {ref} failed: {out.stderr.decode()[-2000:]}")
        return list(json.loads(out.stdout))


# The child runs with only the reference's h7 first on sys.path (this file is loaded by path).
_CHILD = f"""
import json, sys, importlib.util
spec = importlib.util.spec_from_file_location("l3m", {str(Path(__file__).resolve())!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
import h7
assert h7.__file__.startswith(sys.path[1]), (h7.__file__, sys.path[:3])
paths = json.loads(sys.argv[1]); bu = float(sys.argv[3]) if sys.argv[3] else None
print(json.dumps([m.measure(m.Path(p), float(sys.argv[2]), bu) for p in paths]))
"""


def _fmt(r: dict[str, Any]) -> list[str]:
    lines = [
        f"  threshold {r['threshold']:.3f} ({r['calibration']}), g_scale {r['g_scale']}, "
        f"sequence median {r.get('s_med') or 0:.3f} spread {r.get('s_spread') or 0:.3f} nats"
    ]
    for name, ph in r["phases"].items():
        codes: dict[str, int] = {}
        for a in ph["alerts"]:
            codes[a["code"]] = codes.get(a["code"], 0) + 1
        w = ph["worst"][0] if ph["worst"] else {}
        lines.append(
            f"  {name:<22} batches {ph['batches']:>4}  peak d/thr {ph['peak_ratio']:>6.3f}"
            f" (t={w.get('t_s')}s g={w.get('graph')} s={w.get('seq_nats')})"
            f"  peak graph/sequence units {ph.get('peak_units', '-')}  L3 verdicts {codes or '-'}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("journals", nargs="+", type=Path)
    p.add_argument("--baseline-s", type=float, default=30.0)
    p.add_argument(
        "--benign-until", type=float, default=None, help="seconds from a mark-less journal's start"
    )
    p.add_argument("--ref", action="append", default=[], help="also replay with h7/ of this git revision")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    for j in args.journals:
        if not j.is_file():
            print(f"l3_margins: no such journal: {j}", file=sys.stderr)
            return 2
    runs = {"worktree": [measure(j, args.baseline_s, args.benign_until) for j in args.journals]}
    for ref in args.ref:
        runs[ref] = _run_ref(ref, args)
    if args.json:
        print(json.dumps(runs, indent=1))
        return 0
    for i, j in enumerate(args.journals):
        print(j)
        for name, res in runs.items():
            print(f" [{name}]")
            print("\n".join(_fmt(res[i])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
