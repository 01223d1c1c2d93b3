"""Replay of journals recorded from real runs (`h7 record` on the demo agent, real BPF).

The journals in tests/journals/real/ were made by tests/journals/real/record.py:
the demo agent (HTTP to a local model API, file reads/writes, tokenisation
bursts, sleeps) recorded for 45 s, with one attack injected at 37 s in the
attack journals.  Replayed with the default 30 s baseline, the benign journal
must be silent, and each attack journal must produce its channel's alert,
after the attack and not before.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from h7.alert import Alert
from h7.config import EngineConfig
from h7.detect.engine import Engine
from h7.journal import JournalReader

REAL = Path(__file__).resolve().parent / "journals" / "real"
sys.path.insert(0, str(REAL))
import record as rec  # noqa: E402  (the recording script is the source of truth for its timings)

EXPECTED = {
    "attack_L1": {"DRIFT_DETECTED"},
    "attack_L2": {"LLM_AGENT_HIJACK", "LIVING_OFF_THE_LAND"},
    "attack_L3": {"CAUSAL_CYCLE_DETECTED", "STRUCTURAL_DRIFT"},
    "attack_L4": {"UNKNOWN_DESTINATION", "NET_EGRESS_BURST"},
    "attack_L5": {"PTRACE_ATTACH_DETECTED"},
}


def replay(name: str) -> tuple[list[Alert], int]:
    reader = JournalReader(REAL / f"{name}.h7j")
    # pids in a journal are not this host's pids: never read /proc for them
    engine = Engine(EngineConfig(baseline_ns=rec.BASELINE_S * 10**9, read_proc=False), reader.header.agents)
    alerts: list[Alert] = []
    first_ts = None
    for batch in reader:
        if first_ts is None:
            first_ts = batch.t0_ns
        alerts.extend(engine.process(batch))
    assert reader.truncated is None
    assert engine.phase == "monitoring"
    assert first_ts is not None
    return alerts, first_ts


def test_benign_real_journal_is_silent() -> None:
    alerts, _ = replay("benign")
    assert alerts == [], [(a.channel, a.code, a.divergence, a.threshold) for a in alerts]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_attack_real_journal(name: str) -> None:
    alerts, t0 = replay(name)
    channel = name.split("_")[1]
    mine = [a for a in alerts if a.channel == channel]
    assert {a.code for a in mine} & EXPECTED[name], [(a.channel, a.code) for a in alerts]
    # the recorder needs a few seconds to start, so in journal time the attack lands
    # 2-4 s before ATTACK_AT; anything earlier than this is a false alarm
    attack_ns = t0 + int((rec.ATTACK_AT - 5) * 1e9)
    early = [a for a in alerts if a.ts_ns < attack_ns]
    assert not early, f"alerts before the attack: {[(a.channel, a.code, a.ts_ns - t0) for a in early]}"
    for a in mine:
        assert a.syscall_trace, "an alert must carry the events that preceded it"
    if channel == "L4":
        unk = [a for a in mine if a.code == "UNKNOWN_DESTINATION"]
        assert unk and "127.0.0.2" in str(unk[0].evidence)
    if channel == "L2":
        assert any("sh" in str(a.evidence) or "dash" in str(a.evidence) for a in mine)
