"""The whole path from a journal, without root: batches -> channels -> alert -> .cal -> spool -> sinkhole.

The same :func:`h7.pipeline.run_source` that ``h7 attach`` runs over the live
sensor runs here over :class:`h7.source.JournalSource`.  When the suite runs
as root the run happens in a child process as ``nobody``, so the test also
proves the path needs no privilege: a real sinkhole process (as ``nobody``
too) on a unix socket in a temp dir, a real spool, a real signing key.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from test_sink_support import SinkholeProcess, read_jsonl, wait_for

from h7.cal import keygen, verify_chain
from h7.cal.format import ALERT_EMITTED, SENSOR_STARTED, SENSOR_STOPPED, verify_file

TESTS = Path(__file__).resolve().parent
JOURNAL = TESTS / "journals" / "attack_shell.h7j"


def run_journal(work: Path) -> dict[str, Any]:
    """Replay JOURNAL through the live pipeline into ``work``; returns what happened (JSON-able)."""
    from h7.config import parse_text
    from h7.pipeline import AlertPath, StatusReporter, Terminal, run_source
    from h7.source import JournalSource

    out = work / "alerts.jsonl"
    cfg_path = work / "h7.toml"
    cfg_path.write_text(
        f'[sinkhole]\nsocket = "{work}/alerts.sock"\npubkey = "{work}/keys/h7.pub"\n'
        f'[spool]\ndir = "{work}/spool"\n'
        f'[[output]]\ntype = "jsonl"\npath = "{out}"\nformat = "ocsf"\n'
        '[detect]\nread_proc = false\n[detect.l4]\nallow = ["127.0.0.1:8080", "127.0.0.53:53"]\n'
    )
    cfg = parse_text(cfg_path.read_text())
    sinkhole = SinkholeProcess(cfg.sink.socket, cfg_path, work / "sinkhole.log")
    sinkhole.start()
    try:
        term = Terminal(False)
        alerts = AlertPath(
            work / "cal",
            work / "keys" / "h7.key",
            cfg.sink.socket,
            cfg.sink.spool_dir,
            spool_max_bytes=cfg.sink.spool_max_bytes,
            max_held=cfg.sensor.max_held_alerts,
            term=term,
        )
        engine, reason = run_source(
            JournalSource(JOURNAL), cfg.detect, alerts, term, reporter=StatusReporter(work / "status.json")
        )
        delivered = wait_for(lambda: len(read_jsonl(out)) >= alerts.counters["alerts"], 20)
    finally:
        sinkhole.stop()
    return {
        "euid": os.geteuid(),
        "reason": reason,
        "alerts": alerts.counters["alerts"],
        "delivered": delivered,
        "phase": engine.phase,
        "spool": [p.name for p in cfg.sink.spool_dir.iterdir()] if cfg.sink.spool_dir.exists() else [],
    }


def test_a_journal_runs_the_whole_alert_path_without_root(nobody_reaches_checkout: None) -> None:
    # pytest's own temp dirs are root's 0700: nobody needs a directory of its own
    work = Path(tempfile.mkdtemp(prefix="h7-journal-"))
    try:
        _check_run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_run(work: Path) -> None:
    _priv, pub = keygen(work / "keys")
    if os.geteuid() == 0:  # prove it: the same run as nobody, in a child
        nobody = pwd.getpwnam("nobody")
        for p in (work, *work.rglob("*")):
            os.chown(p, nobody.pw_uid, nobody.pw_gid)
        code = f"import sys, json; sys.path.insert(0, {str(TESTS)!r}); import test_pipeline_journal as t; "
        code += f"print(json.dumps(t.run_journal(__import__('pathlib').Path({str(work)!r}))))"
        r = subprocess.run(
            [sys.executable, "-c", code],
            user=nobody.pw_uid,
            group=nobody.pw_gid,
            capture_output=True,
            text=True,
            timeout=300,
            cwd="/",
        )
        assert r.returncode == 0, r.stderr[-3000:]
        res = json.loads(r.stdout.strip().splitlines()[-1])
        assert res["euid"] == nobody.pw_uid
    else:
        res = run_journal(work)
    assert res["reason"] == "journal-end" and res["phase"] == "monitoring"
    assert res["alerts"] >= 1 and res["delivered"], res
    # Every certificate verifies and chains; the run is bracketed by its start and stop records.
    report = verify_chain(work / "cal", pub)
    assert not report.breaks, report.breaks
    bodies = [verify_file(p, pub).body for p in sorted((work / "cal").glob("*.cal"))]
    actions = [b["action"] for b in bodies]
    assert actions[0] == SENSOR_STARTED and actions[-1] == SENSOR_STOPPED, actions
    alerts = [b for b in bodies if b["action"] == ALERT_EMITTED]
    assert len(alerts) == res["alerts"]
    assert "LLM_AGENT_HIJACK" in {b["code"] for b in alerts}, [(b["channel"], b["code"]) for b in alerts]
    # The sinkhole delivered each of them, as OCSF, naming the certificate it verified.
    findings = read_jsonl(work / "alerts.jsonl")
    assert {f["unmapped"]["h7"]["cal_path"] for f in findings} == {
        str(p)
        for p in sorted((work / "cal").glob("*.cal"))
        if verify_file(p, pub).body["action"] == ALERT_EMITTED
    }
    assert all(f["class_uid"] == 2004 for f in findings)
    # Nothing left in the spool once the sinkhole acknowledged everything.
    assert not [n for n in res["spool"] if n.endswith(".msg") or n.endswith(".alert")], res["spool"]
    status = json.loads((work / "status.json").read_text())
    assert status["alerts"] == res["alerts"] and status["ring"]["batches"] > 30


# ---------------------------------------------------------------- replay == the signed pipeline
REAL = TESTS / "journals" / "real"
#: every channel (kernel-recorded journals of the demo agent) plus a benign one and a synthetic
#: multi-code attack: the two outputs must agree on silence as well as on findings
AGREE = [REAL / f"attack_L{n}.h7j" for n in range(1, 6)] + [
    REAL / "benign.h7j",
    TESTS / "journals" / "attack_recon.h7j",
]


def _verdict(
    channel: str, code: str, agent_id: str, key: str, div: float, thr: float, ts: int, sup: int
) -> tuple:
    return (channel, code, agent_id, str(key), round(float(div), 9), round(float(thr), 9), int(ts), int(sup))


@pytest.mark.parametrize("journal", AGREE, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_replay_prints_exactly_what_the_signed_pipeline_certifies(tmp_path: Path, journal: Path) -> None:
    """`h7 replay` and run_source -> AlertPath (.cal, spool, a real sinkhole) give the same verdicts.

    Both go through one pipeline; this pins it: the same alerts, in the same
    order, at the same kernel times, with the same divergence, key and syscall
    trace -- the replay printed, the other signed and delivered.
    """
    from click.testing import CliRunner

    from h7.cli import main
    from h7.config import EngineConfig, parse
    from h7.detect.replay import replay_config
    from h7.pipeline import AlertPath, Terminal, run_source
    from h7.sink.server import Sinkhole
    from h7.source import JournalSource

    res = CliRunner().invoke(main, ["replay", str(journal), "--json"])
    assert res.exit_code == 0, res.output
    printed = [json.loads(x) for x in res.output.splitlines() if x.startswith("{")]

    _priv, pub = keygen(tmp_path / "keys")
    out = tmp_path / "alerts.jsonl"
    sink = parse(
        {
            "sinkhole": {"socket": str(tmp_path / "s.sock"), "pubkey": str(pub)},
            "output": [{"type": "jsonl", "path": str(out)}],
        }
    ).sink
    srv = Sinkhole(sink)
    srv.start()
    try:
        term = Terminal(False)
        alerts = AlertPath(
            tmp_path / "cal",
            tmp_path / "keys" / "h7.key",
            sink.socket,
            tmp_path / "spool",
            spool_max_bytes=1 << 26,
            max_held=1000,
            term=term,
        )
        source = JournalSource(journal)
        run_source(source, replay_config(EngineConfig(), source.header), alerts, term)
        assert wait_for(lambda: len(read_jsonl(out)) >= alerts.counters["alerts"], 20)
    finally:
        srv.shutdown()
    certs = [b for b in (verify_file(p, pub).body for p in sorted((tmp_path / "cal").glob("*.cal")))]
    certs = [b for b in certs if b["action"] == ALERT_EMITTED]
    assert [
        _verdict(
            c["channel"],
            c["code"],
            c["agent_id"],
            c["alert_key"],
            c["divergence"],
            c["threshold"],
            c["ts_ns"] - alerts.offset,
            c["suppressed"],
        )
        for c in certs
    ] == [
        _verdict(
            a["channel"],
            a["code"],
            a["agent_id"],
            a["key"],
            a["divergence"],
            a["threshold"],
            a["ts_ns"],
            a["suppressed"],
        )
        for a in printed
    ]
    # the evidence behind each verdict: the same syscalls, at the same (kernel) times
    assert [
        [(e.get("type"), e.get("ts_ns", 0) - alerts.offset * ("ts_ns" in e)) for e in c["syscall_trace"]]
        for c in certs
    ] == [[(e.get("type"), e.get("ts_ns", 0)) for e in a["syscall_trace"]] for a in printed]
    if journal.name.startswith("attack"):
        assert certs, "an attack journal must produce at least one certificate"
    else:
        assert not certs, [(c["channel"], c["code"]) for c in certs]
