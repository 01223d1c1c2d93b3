"""Reporting: per-channel alert counts in the status, and who the L5 attacker is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from h7.config import EngineConfig
from h7.detect.channels.base import ProcReader
from h7.detect.engine import Engine
from h7.journal import JournalReader
from h7.sensor.status import format_status

JOURNALS = Path(__file__).resolve().parent / "journals" / "real"


def test_status_counts_every_channels_alerts() -> None:
    """`h7 status` showed L4 alerts 0 with thousands emitted: the per-channel count is now the emitted one."""
    emitted: list[str] = []
    with JournalReader(JOURNALS / "attack_L4.h7j") as r:
        cfg = EngineConfig(baseline_ns=5_000_000_000, batch_ns=r.header.batch_ns, read_proc=False)
        eng = Engine(cfg, r.header.agents, on_alert=lambda a: emitted.append(a.channel))
        for b in r:
            eng.process(b)
    assert "L4" in emitted
    st = eng.status()
    per_agent = list(st["agents"].values())
    for ch in ("L1", "L2", "L3", "L4", "L5"):
        got = sum(a["channels"][ch]["alerts"] for a in per_agent if ch in a["channels"])
        assert got == emitted.count(ch), (ch, got, emitted)
    doc = {
        "running": True,
        "pid": os.getpid(),
        "engine": st,
        "agents": [{"agent_id": k, "root_pid": 1} for k in st["agents"]],
        "alerts": len(emitted),
    }
    text = format_status(doc)
    l4_line = next(x for x in text.splitlines() if x.strip().startswith("L4:"))
    assert f"alerts {emitted.count('L4')}" in l4_line, text


def test_descends_from_reads_the_real_process_tree() -> None:
    p = ProcReader()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert p.descends_from(child.pid, os.getpid()) is True
        assert p.descends_from(os.getpid(), child.pid) is False  # the parent is outside the child's tree
        assert p.descends_from(child.pid, child.pid) is True
        assert ProcReader(enabled=False).descends_from(child.pid, os.getpid()) is None  # replay: unknown
    finally:
        child.kill()
        child.wait()


def test_status_says_what_is_held_refused_or_unwatched() -> None:
    doc = {
        "running": True,
        "pid": os.getpid(),
        "cal_held": 3,
        "cal_uncertified": 7,
        "spool_held": 2,
        "ring": {
            "agent_capacity_refused": 5,
            "scope_insert_failed": 1,
            "sys_dropped": 4,
            "scratch_dropped": 6,
        },
    }
    sink = {
        "reachable": True,
        "socket": "/run/h7/alerts.sock",
        "pid": 1,
        "stats": {"delivered": 4, "refused": 5, "refused_by_uid": {"65534": 5}, "connections_refused": 36},
        "outputs": [],
    }
    text = format_status(doc, sink)
    for want in (
        "waiting in memory for the cal disk: 3",
        "signed as a gap record: 7",
        "waiting in memory for the spool disk: 2",
        "all agent numbers in use): 5",
        "scope map full): 1",
        "a preempted call's per-CPU scratch was reused: 6",
        "ring-buffer drops: 4\n",  # a lost scratch is no ring-buffer drop: told apart, not summed in
        "refused 5 unauthenticated alert(s) (uid 65534: 5) and 36 connection(s)",
    ):
        assert want in text, (want, text)


def test_a_damaged_status_file_is_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from h7.cli import main

    for text in ('{"pid": null, "written_at": 1}', '{"pid": 1, "written_at": "x"}', '{"pid": true}', "{}"):
        f = tmp_path / "status.json"
        f.write_text(text)
        r = CliRunner().invoke(
            main, ["status", "--status-file", str(f), "--socket", str(tmp_path / "no.sock")]
        )
        assert (r.exit_code == 1 and r.exception is None) or isinstance(r.exception, SystemExit), r.exception
        assert f"status file {f} is malformed" in r.output, (text, r.output)
