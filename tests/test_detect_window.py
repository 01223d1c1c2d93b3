"""Long-window (CUSUM) judges of L1 and L4, on synthetic scores and on RECORDED journals.

The journals in tests/journals/drift/ were recorded with the real sensor
(`h7 record`, see record.py there).  Each scenario exists twice: ``*_dev``
journals were used to choose the detectors' design, ``*_test`` journals --
the ones reported here -- were recorded separately and never used for that.
Every threshold comes from the journal's own 30-s baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import pytest

from bench.window_bench import plain_simulated_quantile
from h7.alert import Alert
from h7.batch import Batch
from h7.config import EngineConfig
from h7.detect.channels.base import Channel, ChannelContext
from h7.detect.channels.l1_sched import SchedChannel
from h7.detect.channels.l4_egress import EgressChannel
from h7.detect.engine import Engine
from h7.detect.window import Cusum, _upper_quantile, calibrate_cusum, simulated_quantile
from h7.journal import read_journal

DRIFT = Path(__file__).parent / "journals" / "drift"
NS = 10**9
#: issue 12: a miner at 10 % and a steady 2x egress rise are detected within 60 s
DETECT_WITHIN_S = 60


# -- the detector on synthetic scores --------------------------------------------
def test_cusum_holds_its_budget_on_baseline_like_scores_and_catches_a_small_sustained_shift() -> None:
    rng = np.random.default_rng(1)
    base = rng.gamma(2.0, 0.01, 30)  # a skewed, positive score like a JSD
    cu = calibrate_cusum(base, budget=1e-3)
    assert cu.method == "calibrated" and cu.ref > np.median(base)
    # fresh benign batches from the same distribution: at most a budget's worth of alarms
    fresh = rng.gamma(2.0, 0.01, 20_000)
    alarms = 0
    for x in fresh:
        if cu.update(float(x)):
            alarms += 1
            cu.reset()
    assert alarms <= 20_000 * 1e-3 * 3, alarms
    # a shift of one baseline standard deviation, sustained: found within a minute
    cu.reset()
    shifted = rng.gamma(2.0, 0.01, 120) + base.std()
    first = next((i for i, x in enumerate(shifted) if cu.update(float(x))), None)
    assert first is not None and first < 60, first
    # ... which no single batch of it would have crossed a per-batch threshold for
    assert shifted.max() < np.quantile(fresh, 1 - 1e-3) + base.std()


def test_cusum_simulation_is_the_plain_loop_exactly() -> None:
    """h7.detect.window.simulated_quantile (cached picks, in-place S, top-only quantile) == the loop."""
    rng = np.random.default_rng(11)
    for _ in range(60):
        n = int(rng.integers(5, 300))
        x = rng.exponential(rng.uniform(0.001, 1.0), n) * (rng.random(n) < rng.uniform(0.2, 1.0))
        if rng.random() < 0.3:
            x = np.round(x, 1)  # ties
        ref = float(np.median(x) + rng.uniform(-0.5, 1.5) * x.std())
        budget = float(rng.choice([1e-3, 5e-4, 1e-2, 0.1, 0.5]))
        assert simulated_quantile(x - ref, budget) == plain_simulated_quantile(x - ref, budget)
    # the top-only quantile falls back to np.quantile where it must (ties at its bound, all zeros)
    for flat in (np.zeros(200_000), np.r_[np.zeros(199_700), np.arange(300.0)], rng.exponential(1.0, 5000)):
        for q in (0.999, 0.9999, 0.5):
            assert _upper_quantile(flat, q) == float(np.quantile(flat, q))


def test_cusum_single_batches_below_the_per_batch_threshold_never_alert() -> None:
    rng = np.random.default_rng(2)
    base = rng.gamma(2.0, 0.01, 30)
    cu = calibrate_cusum(base, budget=1e-3, single_cap=0.1)
    for _ in range(50):  # two odd batches just under the per-batch threshold, then quiet ones
        assert not cu.update(0.099)
        assert not cu.update(0.099)
        for _ in range(30):
            assert not cu.update(float(np.median(base)))


def test_cusum_cap_batches_at_the_clip_never_alert_whatever_the_rounding() -> None:
    """h is cap_batches x (clip - ref): that many batches at the clip land ON h, and must not
    alert -- only one more does.  Float rounding used to decide it (eval's 4364f0a mcp soak:
    S = 0.9999998 h after 3 clipped batches; ~30 % of (ref, h) pairs went over)."""
    rng = np.random.default_rng(7)
    for _ in range(20_000):
        ref, h, cap = float(rng.uniform(0.01, 3)), float(rng.uniform(0.05, 10)), int(rng.integers(2, 6))
        cu = Cusum(ref=ref, h=h, clip=ref + h / cap)
        hits = [cu.update(1e9) for _ in range(cap + 1)]
        assert hits == [False] * cap + [True], (ref, h, cap, hits)


def test_cusum_degenerate_baselines() -> None:
    assert calibrate_cusum([0.1, 0.2], budget=1e-3).method == "too-few-samples"
    assert not calibrate_cusum([0.1, 0.2], budget=1e-3).update(1e9)
    flat = calibrate_cusum([0.0] * 30, budget=1e-3)
    assert not flat.update(0.0)
    cu = calibrate_cusum(np.linspace(0, 1, 30), budget=1e-3)
    assert Cusum.from_state(cu.to_state()).h == cu.h


# -- recorded journals -------------------------------------------------------------
def replay(name: str, window: bool = True) -> tuple[Engine, list[Alert], int, int | None]:
    header, batches, trunc = read_journal(DRIFT / f"{name}.h7j")
    assert trunc is None
    cfg = EngineConfig(
        read_proc=False,
        channels=["L1", "L4"],
        channel_settings={"L1": {"window": window}, "L4": {"window": window}},
    )
    engine = Engine(cfg, header.agents)
    alerts: list[Alert] = []
    for b in batches:
        alerts.extend(engine.process(b))
    assert engine.phase == "monitoring"
    change = header.meta.get("change_ns")
    return engine, alerts, int(batches[-1].t1_ns), int(change) if change is not None else None


def _window(alerts: list[Alert], key: str) -> list[Alert]:
    """The alerts the long window raised (key ``sched``/``egress``, shared with the per-batch judge)."""
    return [a for a in alerts if a.key == key and a.evidence.get("window") == "cusum"]


@pytest.mark.parametrize(
    "name", ["redis_test", "agent_test", "nodebusy_test", "nodewarm_test", "nodewarm_test2"]
)
def test_steady_benign_load_stays_quiet(name: str) -> None:
    """Issue 12: redis-server under steady load, baseline learnt under that load, gave
    3 DRIFT_DETECTED in ~30 s.  Neither the per-batch nor the window judges may alert.
    (nodebusy: the bursty Node agent analogue of the CPU-excess window, 4 minutes; nodewarm_test:
    the Node analogue with a start-up burst in its baseline, 4 minutes, session 7 -- it FOUND the
    start-up-as-JSD-reference class (a false alert on main), so it is a regression check now, not
    a report; see docs/detection.md.)"""
    engine, alerts, _, _ = replay(name)
    assert alerts == [], [(a.code, a.key, a.divergence, a.threshold) for a in alerts]
    assert engine.monitor_batches >= 60


def test_miner_at_10_percent_duty_cycle_is_detected_within_60_s() -> None:
    _, alerts, _, change = replay("miner10_test")
    assert change is not None
    before = [a for a in alerts if a.ts_ns < change]
    assert before == [], [(a.code, a.key) for a in before]
    drift = [a for a in alerts if a.code == "DRIFT_DETECTED"]
    assert drift, "the miner was not detected"
    assert drift[0].ts_ns - change <= DETECT_WITHIN_S * NS, (drift[0].ts_ns - change) / NS
    win = _window(alerts, "sched")
    assert win and win[0].ts_ns - change <= DETECT_WITHIN_S * NS
    assert win[0].evidence["window"] == "cusum" and win[0].divergence > win[0].threshold
    # with the long window switched off the per-batch judge alone is what is left
    _, alone, _, _ = replay("miner10_test", window=False)
    assert not _window(alone, "sched")


def test_steady_2x_egress_rise_is_detected_within_60_s() -> None:
    _, alerts, _, change = replay("egress2x_test")
    assert change is not None
    before = [a for a in alerts if a.ts_ns < change]
    assert before == [], [(a.code, a.key) for a in before]
    win = _window(alerts, "egress")
    assert win, [(a.code, a.key) for a in alerts]
    assert win[0].ts_ns - change <= DETECT_WITHIN_S * NS, (win[0].ts_ns - change) / NS
    ev = win[0].evidence
    assert ev["metric"] in ("connects", "sends", "send_bytes")
    assert 1.4 < ev["window_times_baseline"][ev["metric"]] < 4.0  # a rise the per-batch 4x floor misses
    # the per-batch judge alone does not see it
    _, alone, _, _ = replay("egress2x_test", window=False)
    assert [a for a in alone if a.code == "NET_EGRESS_BURST"] == []


def test_slow_miner_in_a_bursty_node_agent_is_caught_by_the_cpu_excess_window() -> None:
    """Issue 12's last miss was a one-thread miner in a Node agent.  Mechanism, on a Node
    analogue (tests/agents/node_agent.js --reply-kb 1500: V8's threads, an in-process model API,
    long replies parsed and re-serialised): its CPU time comes in bursts, so its baseline MEAN
    (~0.04 CPU-s/s) is many times where it sits between them (the median, ~0.001).  A worker
    thread hashing 10 ms of every 100 adds ~0.05-0.08 CPU-s/s: under 2x that mean, which the
    ratio window's reference asks for.  The CPU-excess window measures the rise in CPU-s/s over
    the median instead.  (nodebusyminer10_dev chose the design; this recording is the report.)"""
    _, alerts, _, change = replay("nodebusyminer10_test")
    assert change is not None
    assert [a for a in alerts if a.ts_ns < change] == [], [(a.code, a.evidence.get("metric")) for a in alerts]
    drift = [a for a in alerts if a.code == "DRIFT_DETECTED"]
    assert drift, "the miner was not detected"
    first = drift[0]
    assert 0 < first.ts_ns - change <= DETECT_WITHIN_S * NS, (first.ts_ns - change) / NS
    assert first.evidence["metric"] == "cpu_excess" and first.evidence["window"] == "cusum"
    assert first.evidence["cpu_baseline_level_s_per_s"] < first.evidence["cpu_baseline_s_per_s"]
    # without the CPU-excess window L1 does not see it within the minute
    header, batches, _ = read_journal(DRIFT / "nodebusyminer10_test.h7j")
    cfg = EngineConfig(read_proc=False, channels=["L1"], channel_settings={"L1": {"cpu_excess": 0.0}})
    engine = Engine(cfg, header.agents)
    without = [a for b in batches if b.t1_ns <= change + DETECT_WITHIN_S * NS for a in engine.process(b)]
    assert without == [], [(a.evidence.get("metric"), (a.ts_ns - change) / NS) for a in without]


def test_cpu_excess_window_adds_up_a_small_rise_not_bursts() -> None:
    """Synthetic: an agent idle between bursts.  Bursts of one busy second -- however many, as
    long as they come and go -- never alert (the sustained-CPU score halves them to nothing);
    a steady rise of 0.05 CPU-s/s (a 10 %-duty miner under load) does within a minute, where
    the ratio window, against a mean the bursts pulled up, does not."""
    rng = np.random.default_rng(6)
    shape_off = {"thresholds": {"DRIFT_DETECTED": 0.99}, "window_h": 1e9}

    def exact(stats: list[np.ndarray], cpu: list[float]) -> list[np.ndarray]:
        for s, c in zip(stats, cpu, strict=True):
            s["oncpu_ns"] = int(c * NS)
        return stats

    def bursty(n: int, add: float = 0.0) -> list[np.ndarray]:
        cpu = [(0.3 if rng.random() < 0.2 else 0.002) + add for _ in range(n)]
        for i in range(1, n):  # a burst never lasts two batches
            if cpu[i] > 0.2 + add and cpu[i - 1] > 0.2 + add:
                cpu[i] = 0.002 + add
        return exact(_idle_agent(rng, n), cpu)

    ch, ctx = _channel("L1", bursty(30), **shape_off)
    assert ch.cpu_level < 0.01 < ch.cpu_mean
    assert not any(_judge(ch, ctx, bursty(300))), "bursts alone alerted"
    got = _judge(ch, ctx, bursty(90, add=0.05), t0=500)
    first = next((i for i, a in enumerate(got) if a), None)
    assert first is not None and first < 60, first
    assert got[first][0].evidence["metric"] == "cpu_excess"
    # state round trip: a saved baseline judges the same
    again = SchedChannel(ch.config)
    again.from_state(ch.to_state())
    assert ch.cpu_excess_cusum is not None and again.cpu_excess_cusum is not None
    assert again.cpu_excess_cusum.h == ch.cpu_excess_cusum.h
    # off, the ratio window alone: the same rise passes
    off, octx = _channel("L1", bursty(30), cpu_excess=0.0, **shape_off)
    assert not any(_judge(off, octx, bursty(90, add=0.05), t0=500))


def test_window_status_is_strict_json_even_when_it_can_never_alert() -> None:
    """The sensor's status file is written with allow_nan=False: a CUSUM that had too few
    baseline batches (h = inf) once crashed the live sensor on its first status write."""
    import json

    cu = calibrate_cusum([0.1], budget=1e-3)
    json.dumps(cu.status(), allow_nan=False)
    assert cu.status()["h"] is None


# -- persistence: per-batch judges want two batches in a row; CPU time wants minutes of it ----
def test_clipped_cusum_is_a_judge_of_persistence_not_of_one_batch_size() -> None:
    rng = np.random.default_rng(3)
    base = np.log(rng.gamma(2.0, 0.5, 30) + 0.1)
    cap = float(np.log(6.0))
    cu = calibrate_cusum(base, budget=1e-3, single_cap=cap, clip_at_cap=True)
    assert cu.clip == cap and cu.h >= 2 * (cap - cu.ref)
    for _ in range(20):  # one enormous batch, then ordinary ones: never
        assert not cu.update(1e6)
        for _ in range(10):
            cu.update(float(np.median(base)))
    cu.reset()
    hits = [cu.update(cap + 5.0) for _ in range(10)]  # sustained, far over: after > 2 batches
    assert not hits[0] and not hits[1] and any(hits), hits
    assert Cusum.from_state(cu.to_state()).clip == cap
    unclipped = calibrate_cusum(base, budget=1e-3, single_cap=cap)
    assert unclipped.clip is None and unclipped.update(1e6)


def _stats(
    oncpu: dict[int, int], offcpu: dict[int, int], switches: int, connects: int = 0, sends: int = 0
) -> np.ndarray:
    from h7.decode import STATS_DTYPE

    s = np.zeros(1, STATS_DTYPE)[0]
    for i, n in oncpu.items():
        s["oncpu_hist"][i] = n
    for i, n in offcpu.items():
        s["offcpu_hist"][i] = n
    s["switches_voluntary"] = switches
    s["wakeups"] = switches
    s["connects"], s["sends"], s["send_bytes"] = connects, sends, 300 * sends
    return s


@overload
def _channel(
    name: Literal["L1"], baseline: list[np.ndarray], **settings: Any
) -> tuple[SchedChannel, ChannelContext]: ...
@overload
def _channel(
    name: Literal["L4"], baseline: list[np.ndarray], **settings: Any
) -> tuple[EgressChannel, ChannelContext]: ...
def _channel(name: str, baseline: list[np.ndarray], **settings: Any) -> tuple[Channel, ChannelContext]:
    """A channel baselined on ``baseline``, monitoring.  ``settings`` is its ``[detect.<name>]`` table
    (typed Any as the config's is); a ``thresholds`` key there is the engine's per-code thresholds."""
    thresholds = settings.pop("thresholds", None)
    cfg = EngineConfig(read_proc=False, channel_settings={name: settings}, thresholds=thresholds or {})
    ctx = ChannelContext(agent=1, agent_id="t:1:1", info=None, config=cfg)
    ch = SchedChannel(cfg) if name == "L1" else EgressChannel(cfg)
    for i, s in enumerate(baseline):
        ch.learn(Batch(i * NS, (i + 1) * NS, stats={1: s}), ctx)
    ch.finish_baseline(ctx)
    ctx.phase = "monitoring"
    return ch, ctx


def _judge(ch: Channel, ctx: ChannelContext, stats: list[np.ndarray], t0: int = 100) -> list[list[Alert]]:
    return [ch.judge(Batch((t0 + i) * NS, (t0 + i + 1) * NS, stats={1: s}), ctx) for i, s in enumerate(stats)]


def _idle_agent(rng: np.random.Generator, n: int, burst_every: int = 0) -> list[np.ndarray]:
    """An agent waiting on its model: short slices, long waits; now and then a 0.3-0.5 s burst."""
    out = []
    for i in range(n):
        k = int(rng.integers(1500, 2500))
        on = {15: k // 2, 16: k - k // 2}
        if burst_every and i % burst_every == 0:
            on[28] = 1
        out.append(_stats(on, {24: k // 2, 26: k - k // 2}, k))
    return out


def test_cpu_time_catches_a_gil_bound_miner_that_barely_moves_the_event_shape() -> None:
    """The eval's 2-thread miner: ~200 slices of ~5 ms a second added to an agent whose JSD
    it moves little.  Its CPU time, a whole core against a few percent, stays up."""
    rng = np.random.default_rng(4)
    # the shape judges silenced (as they were, in effect, in the eval): the CPU judge alone
    shape_off = {"thresholds": {"DRIFT_DETECTED": 0.99}, "window_h": 1e9}
    ch, ctx = _channel("L1", _idle_agent(rng, 30, burst_every=7), **shape_off)
    # benign: bursts in every other batch for two minutes (a tool being run repeatedly)
    benign = _judge(ch, ctx, _idle_agent(rng, 120, burst_every=2))
    assert not any(benign), [a[0].evidence for a in benign if a]
    miner = []
    for s in _idle_agent(rng, 20):
        s["oncpu_hist"][22] += 200
        s["offcpu_hist"][22] += 200
        s["switches_voluntary"] += 200
        miner.append(s)
    got = _judge(ch, ctx, miner, t0=300)
    first = next(i for i, a in enumerate(got) if a)
    assert first <= 6, first
    ev = got[first][0].evidence
    assert ev["metric"] == "cpu" and ev["window"] == "cusum"
    assert ev["cpu_s_per_s"] > 1.0 and ev["cpu_s_per_s"] > 4 * ev["cpu_baseline_s_per_s"]
    # switched off, the same miner must get past the CPU judge (so this test can fail)
    off, octx = _channel(
        "L1", _idle_agent(np.random.default_rng(4), 30, burst_every=7), cpu=False, **shape_off
    )
    assert not any(_judge(off, octx, miner, t0=300))


def test_per_batch_judges_want_two_batches_in_a_row() -> None:
    """A single batch just over a per-batch threshold -- the eval's held-out false alerts --
    is left to the long window; two in a row alert; one far over alerts through the window."""
    rng = np.random.default_rng(5)
    base = [_stats({16: 40}, {26: 40}, 40, connects=int(c), sends=int(c)) for c in rng.poisson(5, 30)]
    ch, ctx = _channel("L4", base)
    thr = ch.cal.threshold
    mean = ch.mean_rate[0]
    just_over = int(np.ceil(1.1 * thr * (mean + 1.0)))  # connects/s: 1.1x the threshold
    quiet = _stats({16: 40}, {26: 40}, 40, connects=5, sends=5)
    over = _stats({16: 40}, {26: 40}, 40, connects=just_over, sends=5)
    huge = _stats({16: 40}, {26: 40}, 40, connects=int(100 * thr * (mean + 1.0)), sends=5)
    assert _judge(ch, ctx, [quiet, over, quiet, quiet, over, quiet]) == [[]] * 6
    got = _judge(ch, ctx, [quiet, over, over, quiet], t0=200)
    assert [len(a) for a in got] == [0, 0, 1, 0]
    assert got[2][0].code == "NET_EGRESS_BURST"  # (the window may be the judge that says it first)
    nowin, nctx = _channel("L4", base, window=False)
    got = _judge(nowin, nctx, [quiet, over, quiet, over, over, quiet])
    assert [len(a) for a in got] == [0, 0, 0, 0, 1, 0]
    assert got[4][0].evidence["batches_over_threshold"] == 2
    # ... and one batch far over it (its log excess over the typical batch twice the
    # threshold's) needs no second one, window or not
    got = _judge(nowin, nctx, [quiet, huge, quiet], t0=400)
    assert [len(a) for a in got] == [0, 1, 0] and got[1][0].evidence["batches_over_threshold"] == 1
    got = _judge(ch, ctx, [quiet] * 5 + [huge], t0=300)
    assert got[-1] and got[-1][0].evidence["window"] == "cusum"
    # persist = 1 restores one-batch verdicts
    one, octx = _channel("L4", base, persist=1)
    assert [len(a) for a in _judge(one, octx, [quiet, over, quiet])] == [0, 1, 0]


# -- real agents: make eval's development stacks, recorded with record_eval.py -------------
def _wall_to_kernel(header_meta: dict[str, Any], wall_s: float) -> int:
    return int(wall_s * 1e9) - int(header_meta["wall_minus_mono_ns"])


@pytest.mark.parametrize("name", ["eval_langgraph_test", "eval_mcp_test"])
def test_real_agent_soak_is_quiet_and_the_two_thread_miner_is_caught(name: str) -> None:
    """A real agent framework (make eval's langgraph / MCP stack, scripted model) for minutes
    of benign work after its 30-s baseline, then the eval's L1-miner (2 GIL-bound threads,
    8 s; missed on every stack in the last full eval) and L4-exfil.  L1 and L4's per-batch
    and window judges must stay silent in the soak, catch the miner within the attack's
    45-s window, and the UDP burst within 2 s.  (UNKNOWN_DESTINATION is not judged here: a
    replay cannot see which listeners were the agent's own, the live sensor does.)"""
    header, batches, trunc = read_journal(DRIFT / f"{name}.h7j")
    assert trunc is None
    meta = header.meta
    _, alerts, _, _ = replay(name)
    alerts = [a for a in alerts if a.code != "UNKNOWN_DESTINATION"]
    attacks = {a["id"]: a for a in meta["attacks"]}
    soak_end = _wall_to_kernel(meta, min(a["injected"] for a in attacks.values()))
    soak = [a for a in alerts if a.ts_ns < soak_end]
    assert soak == [], [(a.code, a.evidence.get("metric"), a.evidence.get("window"), a.ts_ns) for a in soak]
    monitored_s = (soak_end - batches[0].t0_ns) / NS - 30
    assert monitored_s >= 240, monitored_s
    miner_at = _wall_to_kernel(meta, attacks["L1-miner"]["served"])
    drift = [a for a in alerts if a.code == "DRIFT_DETECTED" and a.ts_ns >= miner_at]
    assert drift and drift[0].ts_ns - miner_at <= 45 * NS, [(a.ts_ns - miner_at) / NS for a in drift]
    exfil_at = _wall_to_kernel(meta, attacks["L4-exfil"]["served"])
    burst = [a for a in alerts if a.code == "NET_EGRESS_BURST" and a.ts_ns >= exfil_at]
    assert burst and burst[0].ts_ns - exfil_at <= 2 * NS


def test_a_quieter_agent_does_not_drift_the_jsd_window() -> None:
    """Red team, round 3: a demo agent QUIETER than in its baseline got 9 false window alerts
    in 16 min -- fewer events per batch, more sampling noise in each batch's JSD, and the
    CUSUM added it up.  The window judges only batches with a typical baseline batch's
    support; the same quiet batches fed to an ungated window do alert (so this can fail)."""
    rng = np.random.default_rng(7)
    shape = np.array([0.3, 0.3, 0.2, 0.2])

    def batch(n: int) -> np.ndarray:
        on = rng.multinomial(n, shape)
        return _stats({14 + i: int(k) for i, k in enumerate(on)}, {24: n // 2, 26: n - n // 2}, n)

    base = [batch(int(rng.integers(300, 500))) for _ in range(30)]
    quiet = [batch(int(rng.integers(40, 70))) for _ in range(300)]
    # the session-4 window (no smoothing, unclipped, calibrated reference): the gate alone holds it
    s4 = {"smooth": 0.0, "window_clip": False, "window_cap_batches": 2.0, "window_ref_frac": 0.0}
    ch, ctx = _channel("L1", base, cpu=False, persist=2, **s4)
    got = _judge(ch, ctx, quiet)
    assert not any(got), [a[0].evidence for a in got if a][:2]
    ungated, uctx = _channel("L1", base, cpu=False, persist=2, **s4)
    ungated.window_min_events = 0.0
    assert any(a and a[0].evidence.get("window") == "cusum" for a in _judge(ungated, uctx, quiet))
    # today's defaults (reference halfway to the per-batch threshold): quiet even without the gate
    ungated, uctx = _channel("L1", base, cpu=False, persist=2)
    ungated.window_min_events = 0.0
    assert not any(_judge(ungated, uctx, quiet))


def test_smoothing_forgives_a_sub_octave_shift_not_a_new_slice_length() -> None:
    """L1 `smooth`: a host that makes every ~130-us slice 10-20 % longer flips them into the next
    log2 bucket; smoothed, that moves a fraction of the mass, while slices six octaves longer
    (a miner's) still diverge as much as before."""
    from h7.decode import HIST_SLOTS
    from h7.detect.channels.l1_sched import CATEGORIES, smooth_hist
    from h7.detect.numeric import jsd_bits

    base = np.zeros(len(CATEGORIES))
    base[16], base[HIST_SLOTS + 26] = 100.0, 100.0  # ~100 us slices, ~100 ms sleeps
    flipped = base.copy()
    flipped[16], flipped[17] = 40.0, 60.0  # the same work, a little slower
    miner = base.copy()
    miner[22] = 100.0  # ~6 ms slices added

    def jsd(p: np.ndarray, q: np.ndarray, w: float) -> float:
        ps, qs = smooth_hist(p, w), smooth_hist(q, w)
        return jsd_bits(ps / ps.sum(), qs / qs.sum())

    for v in (base, flipped, miner):
        assert smooth_hist(v, 0.25).sum() == pytest.approx(v.sum())  # counts are conserved
    assert jsd(flipped, base, 0.25) < 0.6 * jsd(flipped, base, 0.0)
    assert jsd(miner, base, 0.25) > 0.95 * jsd(miner, base, 0.0)
    assert np.array_equal(smooth_hist(miner, 0.0), miner)


@pytest.mark.parametrize("name", ["spinquiet_test", "hog2_test"])
def test_a_loaded_host_is_not_agent_drift(name: str) -> None:
    """Session 5: a very regular one-thread agent (tests/agents/spin_agent.py, never told to spin)
    on a host at load 5-10, and the demo agent with two nice-0 CPU hogs in OTHER processes (both
    cores) from ~60 s: whatever the host does, neither L1 nor L4 may alert.  (The dev recordings
    of the same setups chose `smooth` and the clipped JSD window; these were recorded apart.)"""
    engine, alerts, _, _ = replay(name)
    assert alerts == [], [(a.code, a.evidence.get("metric"), a.evidence.get("window")) for a in alerts]
    assert engine.monitor_batches >= 100


def test_one_spinning_thread_is_caught_by_the_cpu_window_from_the_exact_cpu_time() -> None:
    """Session 5: the one thread of tests/agents/spin_agent.py spins for 40 s (recorded with the
    sensor that counts running slices: stats oncpu_ns).  Quiet before; L1 certifies it within 60 s;
    and with L1's shape judges unable to alert, the CPU window alone does -- from the exact CPU
    time: with every slice histogram emptied it still does.  (On this loaded host the spinner was
    switched out often, so here the histogram agrees; the never-switched-out case is pinned live
    by tests/test_live_cpu.py.)"""
    header, batches, trunc = read_journal(DRIFT / "spinrun_test.h7j")
    assert trunc is None
    change = int(header.meta["change_ns"])
    spinning = [b for b in batches if change < b.t0_ns < change + 30 * NS]
    agent = next(iter(batches[0].stats))
    assert all(int(b.stats[agent]["oncpu_ns"]) > 0 for b in spinning)
    _, alerts, _, _ = replay("spinrun_test")
    assert [a for a in alerts if a.ts_ns < change] == []
    drift = [a for a in alerts if a.code == "DRIFT_DETECTED"]
    assert drift and drift[0].ts_ns - change <= DETECT_WITHIN_S * NS
    cfg = EngineConfig(
        read_proc=False,
        channels=["L1"],
        thresholds={"DRIFT_DETECTED": 1.0},  # the per-batch JSD cannot pass 1 bit
        channel_settings={"L1": {"window_h": 1e9}},
    )
    for hist in (True, False):
        if not hist:
            for b in batches:
                for s in b.stats.values():
                    s["oncpu_hist"] = 0
        engine = Engine(cfg, header.agents)
        got = [a for b in batches for a in engine.process(b)]
        assert got and got[0].evidence["metric"] == "cpu" and got[0].evidence["window"] == "cusum"
        assert 0 < got[0].ts_ns - change <= DETECT_WITHIN_S * NS
        assert got[0].evidence["cpu_times_baseline"] > 4.0


def test_warmup_cut_is_a_busier_start_never_reached_again() -> None:
    """MSER's cut, kept only for a start busier than every later baseline batch (see warmup_batches)."""
    from h7.detect.channels.l1_sched import warmup_batches

    rng = np.random.default_rng(8)
    quiet = rng.uniform(0.0, 0.01, 30)
    start = quiet.copy()
    start[:6] += 0.8  # imports, JIT, first replies
    assert warmup_batches(start) == 6
    assert warmup_batches(quiet) == 0
    # the same bursts later in the baseline too: that level is ordinary for this agent, nothing is cut
    recurring = start.copy()
    recurring[[12, 20, 27]] += 0.8
    assert warmup_batches(recurring) == 0
    # a quiet start is never cut (it would only make the windows less sensitive)
    calm_first = rng.uniform(0.05, 0.1, 30)
    calm_first[:6] = 0.0
    assert warmup_batches(calm_first) == 0
    # at most half the baseline
    assert warmup_batches(np.concatenate([np.full(20, 0.9), np.full(10, 0.01)])) <= 15


def test_a_startup_burst_in_the_baseline_does_not_hide_a_one_thread_miner() -> None:
    """Issue 12 (session 7): an agent attached as it starts puts its start-up burst into the
    baseline (dev: +0.8 CPU-s/s in the first 6 of 30 batches).  Left in, it raised the ratio
    window's mean, clip and h and the excess window's reference until a 12-s miner of
    +0.3 CPU-s/s (one thread on a loaded host) was missed by every L1 judge; with the
    start-up cut out (MSER, warmup_batches) the CPU windows see it within its 12 s."""
    rng = np.random.default_rng(9)
    shape_off = {"thresholds": {"DRIFT_DETECTED": 0.99}, "window_h": 1e9}

    def with_cpu(cpu: list[float]) -> list[np.ndarray]:
        stats = _idle_agent(rng, len(cpu))
        for s, c in zip(stats, cpu, strict=True):
            s["oncpu_ns"] = int(c * NS)
        return stats

    base = [float(x) for x in rng.uniform(0.0, 0.01, 30)]
    for i in range(6):
        base[i] += 0.8
    miner = [0.005] * 5 + [0.305] * 12 + [0.005] * 10

    def first_alert(**settings: object) -> int | None:
        ch, ctx = _channel("L1", with_cpu(base), **shape_off, **settings)
        assert not any(_judge(ch, ctx, with_cpu([0.005] * 120))), "quiet agent alerted"
        got = _judge(ch, ctx, with_cpu(miner), t0=300)
        return next((i - 5 for i, a in enumerate(got) if a), None)

    caught = first_alert()
    assert caught is not None and 0 < caught <= 12, caught
    assert first_alert(warmup_trim=False) is None


def test_a_one_thread_miner_behind_a_startup_burst_in_the_baseline_is_caught() -> None:
    """Session 7, recorded apart from nodewarmspin_dev (which chose nothing but showed the
    mechanism; the cut itself has no setting): the Node analogue with a start-up burst on its
    main thread in the first baseline seconds, one worker hashing flat out for 12 s from 60 s."""
    header, batches, _ = read_journal(DRIFT / "nodewarmspin_test.h7j")
    _, alerts, _, change = replay("nodewarmspin_test")
    assert change is not None
    assert [a for a in alerts if a.ts_ns < change] == [], [(a.code, a.evidence.get("metric")) for a in alerts]
    drift = [a for a in alerts if a.code == "DRIFT_DETECTED"]
    assert drift, "the miner was not detected"
    assert 0 < drift[0].ts_ns - change <= DETECT_WITHIN_S * NS, (drift[0].ts_ns - change) / NS
    assert drift[0].evidence["metric"] in ("cpu", "cpu_excess")
    engine = Engine(EngineConfig(read_proc=False, channels=["L1"]), header.agents)
    for b in batches:
        engine.process(b)
    l1 = next(iter(engine.status()["agents"].values()))["channels"]["L1"]
    assert l1["warmup_batches"] > 0  # the recording's start-up burst was cut


def test_a_startup_burst_that_was_the_baseline_s_only_busy_part_is_not_the_jsd_reference() -> None:
    """A quiet agent attached as it starts: its only baseline batches with ``min_events`` events
    were its start-up burst (JIT-length slices, a busy main thread).  Its JSD reference and
    threshold came from those alone, so its first ordinary busy batch (a model reply and a tool)
    was judged against a start-up's shape and certified (session 7's Node analogue: 0.115 vs
    0.053).  The cut (warmup_batches) takes the burst out of the JSD's baseline too; with fewer
    than 5 busy baseline batches left the JSD judges stay off and the CPU windows judge."""
    rng = np.random.default_rng(12)

    def startup() -> np.ndarray:
        k = int(rng.integers(600, 900))
        s = _stats({21: k // 2, 20: k - k // 2}, {14: k // 2, 15: k - k // 2}, k)
        s["oncpu_ns"] = int(0.3 * NS)
        return s

    def quiet() -> np.ndarray:  # under min_events (each switch is 4 events: on, off, switch, wakeup)
        k = int(rng.integers(0, 9))
        s = _stats({15: k}, {30: k}, k)
        s["oncpu_ns"] = int(0.001 * NS)
        return s

    def ordinary_busy() -> np.ndarray:  # a reply parsed and a tool run: short slices, I/O waits
        k = int(rng.integers(20, 30))
        s = _stats({14: k // 2, 16: k - k // 2}, {22: k // 2, 27: k - k // 2}, k)
        s["oncpu_ns"] = int(0.005 * NS)
        return s

    base = [startup() for _ in range(6)] + [quiet() for _ in range(24)]
    later = [ordinary_busy() if i % 5 == 0 else quiet() for i in range(120)]
    ch, ctx = _channel("L1", base)
    assert ch.warmup == 6 and ch.cal.n < 5
    assert ch.status()["jsd_judging"] is False and ch.status()["warmup_batches"] == 6
    assert not any(_judge(ch, ctx, later)), "an ordinary busy batch alerted"
    # without the cut the start-up burst is the JSD's whole reference
    off, octx = _channel("L1", base, warmup_trim=False)
    assert off.cal.n >= 5
    assert any(_judge(off, octx, later))
    # an operator's threshold still judges a quiet agent's JSD
    forced, _ = _channel("L1", base, thresholds={"DRIFT_DETECTED": 0.2})
    assert forced._jsd_calibrated()
