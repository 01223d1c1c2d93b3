"""L1's run-queue split (session 10) on journals RECORDED with the real sensor.

Issue 12: L1 must stay quiet when the host's load changes and still catch slow
abuse.  The sensor now keeps apart what the agent does -- its bursts (CPU time
between two sleeps, however often another task preempted it) and its sleeps
(switch-out to wakeup) -- from what the host's other processes do to it: its
waits for a CPU, preemptions and migrations (bpf/h7.h ``h7_stats``;
h7.detect.channels.l1_sched ``SPLIT_CATEGORIES``).  L1's shape judges read
only the former.

Journals (tests/journals/drift/record.py, scenarios ``load*``): the demo agent,
its 30-s baseline at the host's load, then three nice-0 CPU hogs in another
process from just after the baseline to the end (host load +3 on 2 cores).
``loadup``: nothing else; ``loadminer10``: + a miner thread in the agent at a
10 % duty cycle from ~60 s; ``loadspin``: + one agent thread hashing flat out
for 12 s from ~60 s (make eval's one-thread miner).  ``*_dev`` were looked at
while building the split; ``*_test`` were recorded apart and are reported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from h7.alert import Alert
from h7.config import EngineConfig
from h7.detect.channels.l1_sched import CATEGORIES, SPLIT_CATEGORIES, SchedChannel, has_split, sched_vector
from h7.detect.engine import Engine
from h7.journal import read_journal

DRIFT = Path(__file__).parent / "journals" / "drift"
NS = 10**9
#: issue 12: a miner at 10 % is detected within 60 s
DETECT_WITHIN_S = 60


def replay(name: str, peaks: list[float] | None = None, **l1: Any) -> tuple[Engine, list[Alert], int | None]:
    """Replay with L1 and L4; ``peaks`` collects L1's per-batch JSD / threshold of every monitored batch."""
    header, batches, trunc = read_journal(DRIFT / f"{name}.h7j")
    assert trunc is None
    cfg = EngineConfig(read_proc=False, channels=["L1", "L4"], channel_settings={"L1": l1})
    engine = Engine(cfg, header.agents)
    alerts: list[Alert] = []
    for b in batches:
        alerts.extend(engine.process(b))
        if peaks is not None and engine.phase == "monitoring":
            ch = _l1(engine)
            if ch.last.get("judged"):
                peaks.append(float(ch.last["divergence"]) / ch.cal.threshold)
    assert engine.phase == "monitoring"
    change = header.meta.get("change_ns")
    return engine, alerts, int(change) if change is not None else None


def _l1(engine: Engine) -> SchedChannel:
    ch = next(c for c in next(iter(engine.agents.values())).channels if c.name == "L1")
    assert isinstance(ch, SchedChannel)
    return ch


def test_split_vector_reads_bursts_and_sleeps_not_waits_for_a_cpu() -> None:
    from h7.decode import STATS_DTYPE

    s = np.zeros(1, STATS_DTYPE)[0]
    assert not has_split(s)
    s["rqwait_hist"][21] = 50  # the host made the agent wait: never in the split shape
    s["switches_involuntary"] = 50
    s["migrations"] = 9
    assert has_split(s)
    assert sched_vector(s, split=True).sum() == 0
    s["burst_hist"][19], s["sleep_hist"][24], s["switches_voluntary"] = 7, 5, 5
    v = sched_vector(s, split=True)
    assert v.shape == (len(SPLIT_CATEGORIES),) and v.sum() == 17
    assert v[SPLIT_CATEGORIES.index("burst_2^19ns")] == 7 and v[SPLIT_CATEGORIES.index("sleep_2^24ns")] == 5


@pytest.mark.parametrize("name", ["loadup_dev", "loadup_test"])
def test_a_load_rise_after_the_baseline_is_not_agent_drift(name: str) -> None:
    """Baseline at the host's load, then +3 CPU hogs for two minutes: no L1 (or L4) alert."""
    engine, alerts, _ = replay(name)
    l1 = _l1(engine)
    assert l1.split, "the journal carries the split: L1 must judge it"
    assert alerts == [], [(a.code, a.evidence.get("metric"), a.evidence.get("window")) for a in alerts]
    assert engine.monitor_batches >= 100


def test_the_split_is_what_keeps_the_load_rise_quiet() -> None:
    """Development journal ``loadup_dev``: judged on the unsplit shape (off-CPU waits that include
    the run queue, preemptions, migrations) a batch under the hogs crossed L1's per-batch threshold
    (1.54x; persistence held it, as in session 9's langgraph soak at 1.49x); on the split shape the
    highest batch is under half of it."""
    unsplit: list[float] = []
    replay("loadup_dev", unsplit, runqueue_split=False)
    split: list[float] = []
    engine, _, _ = replay("loadup_dev", split)
    assert _l1(engine).split
    assert len(split) >= 40 and len(unsplit) >= 40
    assert max(unsplit) > 1.0, max(unsplit)
    assert max(split) < 0.75 * max(unsplit) and max(split) < 1.0, (max(split), max(unsplit))


@pytest.mark.parametrize("name", ["loadminer10_dev", "loadminer10_test", "loadspin_dev", "loadspin_test"])
def test_a_miner_on_a_loaded_host_is_detected_within_60_s(name: str) -> None:
    """A 10 %-duty miner thread, or one thread hashing flat out for 12 s, started on a host whose
    load rose after the baseline: L1 certifies it within 60 s and nothing before it."""
    engine, alerts, change = replay(name)
    assert _l1(engine).split
    assert change is not None
    before = [a for a in alerts if a.ts_ns < change]
    assert before == [], [(a.code, a.evidence.get("metric"), a.evidence.get("window")) for a in before]
    drift = [a for a in alerts if a.code == "DRIFT_DETECTED"]
    assert drift, "the miner was not detected"
    assert drift[0].ts_ns - change <= DETECT_WITHIN_S * NS, (drift[0].ts_ns - change) / NS
    assert drift[0].evidence["runqueue_split"] is True


def test_a_baseline_file_keeps_the_shape_it_was_learnt_on() -> None:
    """`--save-baseline` / `--baseline-from`: a split baseline is judged split, an older one unsplit,
    whatever the setting -- the categories of a batch must be the ones its baseline counted."""
    from h7.batch import Batch
    from h7.decode import STATS_DTYPE
    from h7.detect.channels.base import ChannelContext

    rng = np.random.default_rng(3)
    cfg = EngineConfig(read_proc=False)
    ctx = ChannelContext(agent=1, agent_id="t:1:1", info=None, config=cfg)
    learnt = SchedChannel(cfg)
    batches = []
    for i in range(20):
        s = np.zeros(1, STATS_DTYPE)[0]
        for f in ("oncpu_hist", "offcpu_hist", "burst_hist", "sleep_hist", "rqwait_hist"):
            s[f][15:25] = rng.poisson(8, 10)
        s["switches_voluntary"] = 80
        batches.append(Batch(i * NS, (i + 1) * NS, stats={1: s}))
    for b in batches:
        learnt.learn(b, ctx)
    learnt.finish_baseline(ctx)
    assert learnt.split and learnt.total.shape == (len(SPLIT_CATEGORIES),)
    state = learnt.to_state()
    back = SchedChannel(EngineConfig(read_proc=False, channel_settings={"L1": {"runqueue_split": False}}))
    back.from_state(state)
    assert back.split and back.categories == list(SPLIT_CATEGORIES)
    # a baseline file from before the split (69 unsplit categories, no "split" key): judged unsplit
    unsplit = SchedChannel(EngineConfig(read_proc=False, channel_settings={"L1": {"runqueue_split": False}}))
    for b in batches:
        unsplit.learn(b, ctx)
    unsplit.finish_baseline(ctx)
    old = {k: v for k, v in unsplit.to_state().items() if k != "split"}
    again = SchedChannel(cfg)
    again.from_state(old)
    assert not again.split and again.categories == list(CATEGORIES)
    # a split total under an unsplit label is a damaged file, said so
    with pytest.raises(ValueError, match="wrong number of categories"):
        SchedChannel(cfg).from_state({**state, "split": False})
    # a NaN, infinite or negative count or level is a damaged file too: refused at load, not
    # left to silence every later comparison (NaN is never over a threshold) or crash status
    bad_total = list(state["total"])
    for bad in (float("nan"), float("inf"), -1.0):
        bad_total[3] = bad
        with pytest.raises(ValueError, match="invalid total"):
            SchedChannel(cfg).from_state({**state, "total": bad_total})
    with pytest.raises(ValueError, match="invalid cpu_level"):
        SchedChannel(cfg).from_state({**state, "cpu_level": float("nan")})


@pytest.mark.parametrize("name", ["eval_langgraph_load_dev", "eval_mcp_load_dev"])
def test_real_agent_under_a_load_rise_is_quiet_and_its_miner_caught(name: str) -> None:
    """make eval's development stacks (tests/journals/drift/record_eval.py --load-hogs 3): baseline at
    the host's load, three CPU hogs from the end of the baseline, a 180-s benign soak, then the eval's
    L1-miner (two GIL-bound SHA-256 threads for 8 s): no alert in the soak, the miner within 60 s."""
    header, _, _ = read_journal(DRIFT / f"{name}.h7j")
    off = int(header.meta["wall_minus_mono_ns"])
    injected = int(float(header.meta["attacks"][0]["injected"]) * 1e9) - off
    assert header.meta["attacks"][0]["id"] == "L1-miner" and int(header.meta["load_ns"]) < injected
    engine, alerts, _ = replay(name)
    assert _l1(engine).split
    before = [a for a in alerts if a.ts_ns < injected]
    assert before == [], [(a.channel, a.code, a.evidence.get("metric")) for a in before]
    drift = [a for a in alerts if a.code == "DRIFT_DETECTED"]
    assert drift and drift[0].ts_ns - injected <= DETECT_WITHIN_S * NS
