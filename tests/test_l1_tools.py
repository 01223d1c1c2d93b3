"""L1 judges the agent's own processes apart from its exec'd tool runs: RECORDED journals.

tests/journals/drift/record_tools.py recorded these with the real sensor
(``h7 attach --journal``: every batch carries the per-process CPU sample,
h7.detect.proctree).  ``*_dev`` journals chose the design; ``*_test`` ones are
separate recordings of the same scenarios, reported here and never used for
that.  Every threshold comes from the journal's own 30-s baseline.  The
``attribute_tools = false`` runs show what L1 did before (the same journal,
whole-tree CPU): a busy tool certified.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from h7.alert import Alert
from h7.config import EngineConfig
from h7.detect.channels.l1_sched import SchedChannel
from h7.detect.engine import Engine
from h7.journal import read_journal

DRIFT = Path(__file__).parent / "journals" / "drift"
NS = 10**9
#: issue 12: a miner at 10 % is detected within 60 s (the same bar as test_detect_window)
DETECT_WITHIN_S = 60


def replay(
    name: str, attribute: bool = True, channels: tuple[str, ...] = ("L1", "L4")
) -> tuple[SchedChannel, list[Alert], int]:
    header, batches, trunc = read_journal(DRIFT / f"{name}.h7j")
    assert trunc is None
    assert all(b.procs for b in batches), "recorded without per-process samples"
    cfg = EngineConfig(
        read_proc=False, channels=list(channels), channel_settings={"L1": {"attribute_tools": attribute}}
    )
    engine = Engine(cfg, header.agents)
    alerts: list[Alert] = []
    for b in batches:
        alerts.extend(engine.process(b))
    assert engine.phase == "monitoring"
    (st,) = engine.agents.values()
    (l1,) = [c for c in st.channels if isinstance(c, SchedChannel)]
    return l1, alerts, int(header.meta["change_ns"])


def _l1(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.channel == "L1"]


@pytest.mark.parametrize("name", ["tool_dev", "tool_test"])
def test_a_busy_exec_tool_is_set_apart_not_certified(name: str) -> None:
    """The demo agent compiling in exec'd children for 8 s and 4 s: no L1 certificate, the
    CPU shows as tool runs' in the status; judged whole (as before), the same journal certifies."""
    l1, alerts, _ = replay(name)
    assert _l1(alerts) == [], [(a.code, a.evidence.get("metric"), a.divergence) for a in _l1(alerts)]
    assert l1.tools.batches >= 8 and l1.tools.cpu_s >= 1.0 and l1.tools.unmeasured == 0, l1.tools
    assert l1.tools.last_exe.endswith("python"), l1.tools
    _, before, _ = replay(name, attribute=False)
    assert _l1(before), "the whole-tree judge no longer certifies the tool: this test shows nothing"


@pytest.mark.parametrize("name", ["toolspin_dev", "toolfork_dev", "toolspin_test", "toolfork_test"])
def test_a_miner_beside_a_busy_tool_is_still_detected(name: str) -> None:
    """A thread in the agent (toolspin) or a child it forked without exec (toolfork) hashing flat
    out for 12 s while the tool compiles: certified while both run, on the agent's own CPU."""
    l1, alerts, change = replay(name)
    drift = [a for a in _l1(alerts) if a.ts_ns >= change]
    assert [a for a in _l1(alerts) if a.ts_ns < change] == []
    assert drift, f"{name}: the miner beside the tool was not detected ({l1.tools})"
    assert drift[0].ts_ns - change <= 12 * NS, (drift[0].ts_ns - change) / NS


@pytest.mark.parametrize("name", ["toolminer10_dev", "toolminer10_test"])
def test_a_slow_miner_started_with_a_busy_tool_is_detected_within_60_s(name: str) -> None:
    _, alerts, change = replay(name)
    assert [a for a in _l1(alerts) if a.ts_ns < change] == []
    drift = [a for a in _l1(alerts) if a.ts_ns >= change]
    assert drift and drift[0].ts_ns - change <= DETECT_WITHIN_S * NS


@pytest.mark.parametrize("name", ["execminer_dev", "execminer_test"])
def test_an_exec_d_miner_is_l2_s_and_shows_in_l1_s_tool_tally(name: str) -> None:
    """The trade-off, pinned: a miner exec'd as a new program (python -c) is a tool run to L1 --
    no L1 certificate, its CPU in the tally -- and L2 certifies its exec (python<-agent)."""
    l1, alerts, change = replay(name, channels=("L1", "L2", "L4"))
    assert _l1(alerts) == []
    assert l1.tools.cpu_s >= 1.0, l1.tools
    l2 = [a for a in alerts if a.channel == "L2" and a.ts_ns >= change]
    assert l2 and l2[0].ts_ns - change <= 2 * NS, [(a.code, a.key) for a in alerts]
