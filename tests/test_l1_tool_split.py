"""L1 judges the shape of the agent's OWN processes when the kernel counted its tool runs apart.

RECORDED journals (tests/journals/drift/record_tools.py, ``*_split_*``) by a sensor whose
kernel counts the scheduling of tool runs -- processes exec'd after the baseline, and what
they fork -- in the ``tool_*`` stats as well (bpf/h7.h H7_SCOPE_TOOL; ``Batch.tool_split``).
Before, the shape judged was the whole tree's: a quiet tool run (a process napping 3 ms at a
time, a tracer's stops) made most of a batch's switches, and L1 certified its shape
(``sched:tool:<program>``) whenever the agent's own CPU, sampled in 10-ms ticks, did not read
below the tools'.  ``*_dev`` journals chose the design, ``*_test`` ones are recordings of the
same scenarios reported here; "stripped" replays the same journal without ``tool_split``,
i.e. as the judge before this change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from h7.alert import Alert
from h7.config import EngineConfig
from h7.detect.engine import Engine
from h7.journal import read_journal

DRIFT = Path(__file__).parent / "journals" / "drift"
NS = 10**9


def replay(name: str, strip: bool = False) -> tuple[list[Alert], int, int]:
    """L1 and L4 certificates of a journal, its change time, and its batches with the split."""
    header, batches, trunc = read_journal(DRIFT / f"{name}.h7j")
    assert trunc is None
    split = sum(1 for b in batches if b.tool_split)
    engine = Engine(EngineConfig(read_proc=False, channels=["L1", "L4"]), header.agents)
    alerts: list[Alert] = []
    for b in batches:
        if strip:
            b.tool_split = frozenset()
        alerts.extend(engine.process(b))
    assert engine.phase == "monitoring"
    return [a for a in alerts if a.channel == "L1"], int(header.meta["change_ns"]), split


@pytest.mark.parametrize("name", ["quiettoolcap_split_dev", "quiettoolcap_split_test"])
def test_quiet_tool_runs_waited_on_give_no_certificate(name: str) -> None:
    """Two quiet tool runs (a napping python for 20 s; another under ``strace -f`` for 15 s),
    the agent blocked on their output: the tools' thousands of switches a second are theirs."""
    l1, _, split = replay(name)
    assert split >= 60, "recorded without the kernel's tool split"
    assert l1 == [], [(a.key, a.evidence.get("charged_to")) for a in l1]


def test_the_whole_tree_judge_certified_the_same_tool_runs() -> None:
    """What this change removes (dev journal): judged as before, the tool runs' shape certified."""
    l1, _, _ = replay("quiettoolcap_split_dev", strip=True)
    assert [a.key for a in l1 if a.key.startswith("sched:tool:")], [a.key for a in l1]


@pytest.mark.parametrize("name", ["toolthenspin_split_dev", "toolthenspin_split_test"])
def test_a_miner_after_a_polled_tool_run_is_certified_as_the_agent_s_own(name: str) -> None:
    """A quiet tool run the agent waits on with ``subprocess.run(timeout=...)`` -- CPython polls
    the child every <= 50 ms, a new pattern of the agent's OWN thread, in batches the tool run
    dominates in events: no verdict -- then, 10 s in, a thread of the agent hashing flat out: a
    certificate of its own, on the own processes' shape."""
    l1, change, split = replay(name)
    assert split >= 60
    early = [a for a in l1 if a.ts_ns - change < 10 * NS]
    assert early == [], [(a.key, a.evidence["charged_to"]) for a in early]
    miner = [a for a in l1 if a.ts_ns - change >= 10 * NS]
    assert miner and miner[0].key == "sched", [(a.key, (a.ts_ns - change) / NS) for a in l1]
    assert miner[0].ts_ns - change <= 13 * NS, (miner[0].ts_ns - change) / NS
    assert miner[0].evidence["charged_to"]["processes"] == "own"
