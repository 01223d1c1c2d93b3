"""The red-team table: from collected acts and certificates to verdicts, latencies and totals.

Pure functions over plain data, so that the harness's bookkeeping (which
alert belongs to which variant, what counts as detected, how act→.cal is
measured) is tested without a kernel (tests/test_redteam_report.py).

    python -m redteam.report [RESULTS.json ...]   # print the table(s) and per-mode totals

Definitions used everywhere:

* An alert belongs to the phase whose wall-clock window [start_ns, end_ns)
  holds its certificate's ``ts_ns`` (CLOCK_REALTIME, as the sensor writes it).
* A variant is *detected* when an alert of one of its expected channels
  (or channel:code pairs), for the agent it attacked, belongs to its phase.  Alerts of other channels
  in its phase are listed as incidental; they do not count.
* act→.cal = the certificate's ``sign_time_ns`` minus the ``act_ns`` the
  variant printed just before its act, in ms, for the first detecting alert.
* A variant whose act did not succeed (``act_ok`` false) is *not run*: it is
  shown, but neither a detection nor a miss.
* A benign phase is clean when no alert at all belongs to it.
* An alert in a variant's phase about a victim the variant did not attack
  is a *bystander* alert: a false alert too, counted apart (an attack on
  one agent competes with the other for the CPU, which moves scheduling).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GAP_NAMES = {
    0: "demo attacks",
    1: "egress outside connect/send",
    2: "tampering without ptrace",
    3: "PID namespaces",
    4: "exec identity",
    5: "leaving via a daemon",
    6: "interpreters and LOTL (L2)",
    7: "causal cycles (L3)",
    8: "CPU drift (L1)",
    9: "egress rate (L4)",
}


@dataclass
class Cert:
    """What the table needs from one verified certificate."""

    name: str
    agent_pid: int
    channel: str
    code: str
    ts_ns: int
    sign_time_ns: int
    hook: str = ""

    @staticmethod
    def from_body(name: str, body: dict[str, Any]) -> Cert:
        ev = body.get("evidence") or {}
        hook = ev.get("hook", "") if isinstance(ev, dict) else ""
        return Cert(
            name,
            agent_pid_of(str(body["agent_id"])),
            str(body["channel"]),
            str(body["code"]),
            int(body["ts_ns"]),
            int(body["sign_time_ns"]),
            str(hook) if hook else "",
        )


@dataclass
class Phase:
    """A benign window or one variant's window, in CLOCK_REALTIME ns."""

    name: str
    kind: str  # "benign" | "variant" | "benign-act" (real agent work run like a variant: any alert is false)
    start_ns: int
    end_ns: int
    gap: int = -1
    held_out: bool = False
    expect: tuple[str, ...] = ()
    target_pid: int = 0
    act_ok: bool | None = None
    act_ns: int | None = None
    act_detail: str = ""
    certs: list[Cert] = field(default_factory=list)
    #: verdicts the sensor folded into an earlier certificate of the same key during this phase,
    #: per agent pid (as a string, for JSON) and code, from the engine status's folding counters
    folded: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the round the variant was written in (3: written blind and landed before its first run)
    rnd: int = 1


def agent_pid_of(agent_id: str) -> int:
    """Agent ids are NAME:PID:START; the pid is the host pid of the agent's root process."""
    parts = agent_id.split(":")
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return -1


def assign(phases: Sequence[Phase], certs: Iterable[Cert]) -> list[Cert]:
    """Put every certificate into the phase whose window holds its ts_ns; return those outside all."""
    ordered = sorted(phases, key=lambda p: p.start_ns)
    stray: list[Cert] = []
    for c in certs:
        for p in ordered:
            if p.start_ns <= c.ts_ns < p.end_ns:
                p.certs.append(c)
                break
        else:
            stray.append(c)
    return stray


def expected(c: Cert, expect: Sequence[str], target_pid: int) -> bool:
    """Does ``c`` detect the act?  ``expect`` holds channels ("L4") or channel:code ("L2:DAEMON_HANDOFF")."""
    return c.agent_pid == target_pid and (c.channel in expect or f"{c.channel}:{c.code}" in expect)


def channel_of(code: str) -> str:
    from h7 import registry

    return next((ch for ch, codes in registry.codes().items() if code in codes), "?")


def folded_hits(p: Phase) -> list[str]:
    """Expected-channel verdicts folded during the phase for the attacked agent ("L2:DAEMON_HANDOFF")."""
    mine = p.folded.get(str(p.target_pid), {})
    out = []
    for code, n in sorted(mine.items()):
        ch = channel_of(code)
        if n > 0 and (ch in p.expect or f"{ch}:{code}" in p.expect):
            out.append(f"{ch}:{code}")
    return out


def verdict(p: Phase) -> dict[str, Any]:
    """One variant's row: detected or not, expected and incidental codes, act→.cal.

    ``folded``: no certificate of its own, but the sensor reached an expected verdict and folded
    it into an earlier certificate with the same key (another variant's: the same daemon, "memfd").
    """
    hits = sorted(
        (c for c in p.certs if expected(c, p.expect, p.target_pid)),
        key=lambda c: c.sign_time_ns,
    )
    other = [c for c in p.certs if c not in hits and c.agent_pid == p.target_pid]
    bystander = [c for c in p.certs if c.agent_pid != p.target_pid]
    first = hits[0] if hits else None
    folds = folded_hits(p)
    state = "not run" if not p.act_ok else ("detected" if first else ("folded" if folds else "MISSED"))
    latency = None
    if first is not None and p.act_ns is not None:
        latency = round((first.sign_time_ns - p.act_ns) / 1e6, 1)
    return {
        "variant": p.name,
        "gap": p.gap,
        "held_out": p.held_out,
        "expect": list(p.expect),
        "state": state,
        "detected": state == "detected",
        "codes": sorted({f"{c.channel}:{c.code}" for c in hits}) or [f"{x} (folded)" for x in folds],
        "incidental": sorted({f"{c.channel}:{c.code}" for c in other}),
        "bystander": sorted(f"{c.channel}:{c.code}@{c.agent_pid}" for c in bystander),
        "hooks": sorted({c.hook for c in hits if c.hook}),
        "act_to_cal_ms": latency,
        "act_ok": p.act_ok,
        "act_detail": p.act_detail,
        "cal": first.name if first else None,
        "round": p.rnd,
    }


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Detected / run per gap, for the suite without the held-out variants, for those alone, overall."""

    def agg(sel: list[dict[str, Any]]) -> dict[str, Any]:
        ran = [r for r in sel if r["state"] != "not run"]
        det = [r for r in ran if r["detected"]]
        fold = [r for r in ran if r["state"] == "folded"]
        lat = sorted(r["act_to_cal_ms"] for r in det if r["act_to_cal_ms"] is not None)
        return {
            "variants": len(sel),
            "ran": len(ran),
            "detected": len(det),
            "rate": round(len(det) / len(ran), 4) if ran else None,
            "folded": len(fold),
            "rate_with_folded": round((len(det) + len(fold)) / len(ran), 4) if ran else None,
            "median_act_to_cal_ms": lat[len(lat) // 2] if lat else None,
            "max_act_to_cal_ms": lat[-1] if lat else None,
        }

    out: dict[str, dict[str, Any]] = {}
    for g in sorted({int(r["gap"]) for r in rows}):
        out[f"gap{g}"] = agg([r for r in rows if r["gap"] == g])
    out["suite (not held out)"] = agg([r for r in rows if not r["held_out"]])
    out["held out"] = agg([r for r in rows if r["held_out"]])
    for rnd in sorted({int(r.get("round", 1)) for r in rows} - {1}):
        out[f"round {rnd}"] = agg([r for r in rows if int(r.get("round", 1)) == rnd])
    # per channel: the variants that expect it (rows from before "expect" was kept have none)
    for ch in sorted({str(e).split(":")[0] for r in rows for e in r.get("expect", ())}):
        out[f"channel {ch}"] = agg(
            [r for r in rows if ch in {str(e).split(":")[0] for e in r.get("expect", ())}]
        )
    out["all"] = agg(list(rows))
    return out


def benign_summary(phases: Sequence[Phase]) -> dict[str, Any]:
    """Every alert in a benign window or a benign act's phase is false; benign acts are also listed apart."""
    benign = [p for p in phases if p.kind in ("benign", "benign-act")]
    alerts = [
        {"phase": p.name, "agent_pid": c.agent_pid, "channel": c.channel, "code": c.code, "cal": c.name}
        for p in benign
        for c in p.certs
    ]
    seconds = sum(p.end_ns - p.start_ns for p in benign) / 1e9
    folded = [
        {"phase": p.name, "agent_pid": int(pid), "code": code, "count": n}
        for p in benign
        for pid, codes in sorted(p.folded.items())
        for code, n in sorted(codes.items())
        if n > 0
    ]
    acts = [
        {
            "name": p.name,
            "act_ok": p.act_ok,
            "detail": p.act_detail,
            "alerts": [f"{c.channel}:{c.code}@{c.agent_pid}" for c in p.certs],
            "folded": sum(n for codes in p.folded.values() for n in codes.values()),
        }
        for p in benign
        if p.kind == "benign-act"
    ]
    return {
        "acts": acts,
        "phases": len(benign),
        "seconds": round(seconds, 1),
        "false_alerts": len(alerts),
        "false_alerts_by_channel": dict(sorted(Counter(a["channel"] for a in alerts).items())),
        "alerts": alerts,
        "folded_false_verdicts": sum(f["count"] for f in folded),
        "folded": folded,
    }


def dumps(result: dict[str, Any]) -> str:
    """A results file, compact but line-oriented: one top-level key per line, one row/phase per line.

    Whole-suite files were 215 KB with ``indent=1`` (mostly whitespace); this
    keeps every field (the raw phases included, so ``--recompute`` still
    works) at about three quarters of that, and a diff still shows which
    variant's row changed.
    """

    def one(v: Any) -> str:
        return json.dumps(v, separators=(",", ":"), sort_keys=True)

    lines = []
    for k, v in result.items():
        if isinstance(v, list) and v:
            body = ",\n  ".join(one(x) for x in v)
            lines.append(f"{json.dumps(k)}:[\n  {body}\n]")
        else:
            lines.append(f"{json.dumps(k)}:{one(v)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


# --------------------------------------------------------------------------- text
def _fmt_ms(v: float | None) -> str:
    return f"{v:9.1f}" if isinstance(v, int | float) else "        -"


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The per-variant table, fixed-width text."""
    head = f"{'variant':30} {'gap':>3} {'held':4} {'detected':9} {'act->.cal ms':>12}  codes [incidental]"
    lines = [head, "-" * len(head)]
    for r in rows:
        inc = f" [{', '.join(r['incidental'])}]" if r["incidental"] else ""
        lines.append(
            f"{r['variant']:30} {r['gap']:>3} {'yes' if r['held_out'] else '':4} {r['state']:9} "
            f"{_fmt_ms(r['act_to_cal_ms']):>12}  {', '.join(r['codes']) or '-'}{inc}"
        )
    return "\n".join(lines)


def totals_table(tots: dict[str, dict[str, Any]], mode: str = "") -> str:
    lines = [
        f"{'totals' + (' (' + mode + ')' if mode else ''):34} {'detected/ran':>12} {'rate':>7} "
        f"{'median ms':>10} {'max ms':>9} {'+folded':>8}"
    ]
    for k, t in tots.items():
        label = k
        if k.startswith("gap"):
            label = f"{k} {GAP_NAMES.get(int(k[3:]), '')}"
        rate = f"{100 * t['rate']:6.1f}%" if t["rate"] is not None else "      -"
        rf = t.get("rate_with_folded")
        with_folded = f"{100 * rf:6.1f}%" if isinstance(rf, float | int) else "      -"
        lines.append(
            f"{label:34} {t['detected']:>5}/{t['ran']:<6} {rate:>7} {_fmt_ms(t['median_act_to_cal_ms']):>10} "
            f"{_fmt_ms(t['max_act_to_cal_ms']):>9} {with_folded:>8}"
        )
    return "\n".join(lines)


def recompute(result: dict[str, Any]) -> dict[str, Any]:
    """Rebuild rows, totals and the benign summary from the raw phases a results file keeps.

    So a results file is judged by the current rules, and a rule change is
    checked against the runs already made.
    """
    raw = result.get("phases")
    if not raw:
        return result
    phases = []
    for d in raw:
        ph = Phase(
            str(d["name"]),
            str(d["kind"]),
            int(d["start_ns"]),
            int(d["end_ns"]),
            int(d.get("gap", -1)),
            bool(d.get("held_out")),
            tuple(d.get("expect", ())),
            int(d.get("target_pid", 0)),
            d.get("act_ok"),
            d.get("act_ns"),
            str(d.get("act_detail", "")),
            [Cert(**c) for c in d.get("certs", [])],
            dict(d.get("folded") or {}),
            int(d.get("rnd", 1)),
        )
        phases.append(ph)
    rows = [verdict(p) for p in phases if p.kind == "variant"]
    return {**result, "variants": rows, "totals": totals(rows), "benign": benign_summary(phases)}


def render(result: dict[str, Any]) -> str:
    """The full text report of one results file (what `make redteam` prints at the end)."""
    rows = result["variants"]
    mode = str(result.get("mode", "?"))
    b = result.get("benign", {})
    parts = [
        f"H7 red team, {mode} mode, kernel {result.get('kernel', '?')}, {result.get('git', '?')}",
        "",
        table(rows),
        "",
        totals_table(result.get("totals") or totals(rows), mode),
        "",
        f"benign phases: {b.get('phases', 0)} ({b.get('seconds', 0)} s), "
        f"false alerts: {b.get('false_alerts', 0)}"
        + (
            " (" + ", ".join(f"{k} {v}" for k, v in b["false_alerts_by_channel"].items()) + ")"
            if b.get("false_alerts_by_channel")
            else ""
        ),
    ]
    for a in b.get("alerts", []):
        who = f" agent {a['agent_pid']}" if "agent_pid" in a else ""
        parts.append(f"  FALSE ALERT in {a['phase']}:{who} {a['channel']} {a['code']} ({a['cal']})")
    if "folded_false_verdicts" in b:
        parts.append(
            f"verdicts folded into earlier certificates during benign phases (false, but not signed again): "
            f"{b['folded_false_verdicts']}"
        )
        for f in b.get("folded", []):
            parts.append(f"  folded in {f['phase']}: agent {f['agent_pid']} {f['code']} x{f['count']}")
    if b.get("acts"):
        parts.append(
            f"benign acts (real agent work after the baseline; any alert is false): {len(b['acts'])}"
        )
        for a in b["acts"]:
            state = "ran" if a["act_ok"] else "FAILED"
            alerts = ", ".join(a["alerts"]) or "no alert"
            parts.append(f"  {a['name']:30} {state:6} {alerts}; folded {a['folded']}")
    bys = [(r["variant"], x) for r in rows for x in r.get("bystander", [])]
    if any("bystander" in r for r in rows):  # older results files mixed them into "incidental"
        parts.append(f"bystander alerts (on the victim a variant did not attack): {len(bys)}")
    for name, x in bys:
        parts.append(f"  during {name}: {x}")
    if result.get("not_started"):
        ns = result["not_started"]
        why = "the run's --max-seconds was reached"
        if result.get("stopped"):
            why = f"the run stopped: {result['stopped']}"
        parts.append(f"not started ({why}): {len(ns)}: {', '.join(ns)}")
    for name, why in (result.get("stage_failed") or {}).items():
        parts.append(f"not run (its staged helper failed at set-up): {name}: {why}")
    stray = result.get("stray_alerts", [])
    if stray:
        parts.append(f"alerts outside every phase (setup/baseline): {len(stray)}")
    return "\n".join(parts)


def newest_results(directory: Path | None = None) -> list[Path]:
    """The stored run that started last (by its own ``started`` field: a clone's mtimes are all equal).

    ``latest.json`` is a local run's default output and is not kept in git; the
    results kept are named by what they measured.
    """
    d = directory or Path(__file__).resolve().parent / "results"
    best: tuple[str, Path] | None = None
    for p in d.glob("*.json"):
        try:
            started = str(json.loads(p.read_text()).get("started", ""))
        except (OSError, ValueError, AttributeError):
            continue
        if best is None or started > best[0]:
            best = (started, p)
    return [best[1]] if best else []


def main(argv: Sequence[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or newest_results()
    for p in paths:
        try:
            result = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            print(f"redteam.report: error: cannot read {p}: {e}", file=sys.stderr)
            return 2
        print(render(recompute(result)))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
