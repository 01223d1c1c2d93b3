"""Turn eval/results/<stack>.json into latest.json, one plot per stack, and the table in docs/evaluation.md.

Runs in the eval's tools environment (matplotlib).  The plot shows, per
channel, the divergence of every batch against the channel's threshold,
the channel's long window (CUSUM statistic over its decision threshold h, where
it has one), the certificates as dots and the attacks as vertical lines, over
time since `h7 attach`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import STACKS  # noqa: E402
from metrics import (  # noqa: E402
    CHANNELS,
    classify,
    combined,
    combined_markdown,
    corpus_summary,
    dumps,
    markdown,
    run_record,
    stack_summary,
)

BEGIN, END = "<!-- eval-table:begin -->", "<!-- eval-table:end -->"
ORDER = tuple(s.name for s in STACKS)
# Stacks outside the default full run (eval/corpus.py Stack.default): tabled only when asked for by
# name, so a stale opt-in result never mixes into a default run's table, nor into the pooled full runs.
OPT_IN = tuple(s.name for s in STACKS if not s.default)
FULL = tuple(s for s in ORDER if s not in OPT_IN)
# The corpus every pooled full run has measured (sessions 4-7); a full run pools when it has all of these
# (pydantic-ai joined the default run after session 7's run, which has the five only).
POOLED = ("langgraph", "mcp", "openai-agents", "smolagents", "node-openai-agents")


def plot(res: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = float(res.get("marks", {}).get("attach", 0.0))
    scores = [s for s in res.get("scores", []) if "agents" in s]
    fig, axes = plt.subplots(len(CHANNELS), 1, figsize=(12, 11), sharex=True)
    certs = classify(res)
    for ax, ch in zip(axes, CHANNELS, strict=True):
        ts, div, thr = [], [], []
        for s in scores:
            for chans in s["agents"].values():
                if ch in chans:
                    ts.append(float(s["t"]) - t0)
                    div.append(chans[ch][0])
                    thr.append(chans[ch][1])
        ax.plot(ts, div, lw=0.8, color="tab:blue", label="divergence")
        ax.plot(ts, thr, lw=0.8, color="tab:orange", ls="--", label="threshold")
        # the channel's long window (CUSUM) as a share of its own decision threshold h, right axis
        wt, wr = [], []
        for s in scores:
            for w in (s.get("windows") or {}).values():
                if ch in w and w[ch][1] > 0:
                    wt.append(float(s["t"]) - t0)
                    wr.append(w[ch][0] / w[ch][1])
        ax2 = None
        if wt:
            ax2 = ax.twinx()
            ax2.plot(wt, wr, lw=0.8, color="tab:green", label="CUSUM / h (right)")
            ax2.axhline(1.0, lw=0.6, color="tab:green", ls="--")
            ax2.set_ylim(0, max(1.5, max(wr) * 1.1))
            ax2.set_ylabel("CUSUM / h", fontsize=7)
            ax2.legend(loc="center left", fontsize=7)
        for c in certs:
            if c["channel"] == ch:
                benign = c["where"] in ("baseline", "soak")
                # a long-window certificate carries the CUSUM and h: drawn on the right axis
                cusum = '"cusum": ' in str(c.get("evidence", "")) and ax2 is not None
                (ax2 if cusum and ax2 is not None else ax).plot(
                    float(c["ts"]) - t0,
                    c["divergence"] / max(float(c["threshold"]), 1e-12) if cusum else c["divergence"],
                    "x" if benign else "o",
                    ms=6,
                    color="red" if benign else "green",
                    zorder=5,
                )
        for a in res.get("attacks", []):
            x = float(a["injected"]) - t0
            ax.axvline(x, color="grey", lw=0.6, ls=":")
            if a["channel"] == ch:
                ax.annotate(
                    a["id"],
                    (x, 1.0),
                    xycoords=("data", "axes fraction"),
                    fontsize=7,
                    rotation=90,
                    va="top",
                    ha="right",
                )
        mon = res.get("marks", {}).get("monitoring")
        if mon:
            ax.axvspan(0, float(mon) - t0, color="0.93")
        ax.set_ylabel(ch)
        if ch in ("L3", "L4") and any(d > 0 for d in div):
            ax.set_yscale("symlog", linthresh=1.0)
            ax.set_ylim(bottom=0)
    axes[0].set_title(
        f"{res.get('stack')} ({res.get('split')}): per-batch divergence vs threshold; grey band = baseline, "
        "dotted = attack injected, x = false alert, o = alert in an attack window; "
        "green = long window (CUSUM) / its h, right axis",
        fontsize=8,
    )
    axes[0].legend(loc="upper left", fontsize=7)
    axes[-1].set_xlabel("seconds since h7 attach")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def record_run(path: Path, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Add (or replace: same tree) one full run in eval/results/runs.json, oldest first."""
    runs: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
    runs = [r for r in runs if r.get("tree_commit") != rec["tree_commit"]] + [rec]
    path.write_text("[\n" + ",\n".join(json.dumps(r, separators=(",", ":")) for r in runs) + "\n]\n")
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument("--docs", type=Path, default=HERE.parent / "docs" / "evaluation.md")
    ap.add_argument("--mode", default="full", help="run label for the table (full or QUICK)")
    ap.add_argument(
        "--stacks", default="", help="only these stacks (spaces or commas; default: every result present)"
    )
    a = ap.parse_args()
    only = {x for part in a.stacks.split() for x in part.split(",") if x}
    raw = []
    for name in ORDER:
        if (only and name not in only) or (not only and name in OPT_IN):
            continue  # a subset run: another run's stale results would mix into its table
        p = a.results / f"{name}.json"
        if p.exists():
            text = p.read_text()
            compact = dumps(json.loads(text))
            if compact != text:  # an older harness's indent=1 file: stored compactly (eval/metrics.dumps)
                p.write_text(compact)
            raw.append(json.loads(compact))
    if not raw:
        sys.exit(f"eval: no results in {a.results}")
    stacks = [stack_summary(r) for r in raw]
    corpus = corpus_summary(stacks)
    for r in raw:
        plot(r, a.results / f"{r['stack']}.png")
    latest = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": a.mode,
        "corpus": corpus,
        "stacks": stacks,
    }
    table = markdown(stacks, corpus, a.mode)
    if a.mode == "full" and set(POOLED) <= {s["stack"] for s in stacks}:
        # a whole corpus measured at full length: one more independent run to pool (runs.json)
        runs = record_run(a.results / "runs.json", run_record(latest))
        latest["combined"] = combined(runs)
        table += "\n" + combined_markdown(latest["combined"], runs)
    (a.results / "latest.json").write_text(json.dumps(latest, indent=1) + "\n")
    print(table)
    if a.docs.exists():
        doc = a.docs.read_text()
        if BEGIN in doc and END in doc:
            head, rest = doc.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            a.docs.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")


if __name__ == "__main__":
    main()
