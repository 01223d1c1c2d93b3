"""L1 and an agent doing less than in its baseline (``[detect.l1] doing_less``, session 26).

Found by ``make bench``: a redis-server whose baseline was learnt under redis-benchmark got one
``DRIFT_DETECTED`` in every later session as soon as the benchmark paused -- its idle shape
(the 10 Hz cron's 67-ms sleeps, 100-us bursts) against request handling's (8-us bursts, short
sleeps): JSD 0.17 bits against a 0.05 threshold, and no quiet second in the baseline to compare
with.  Synthetic batches pin the rule: an idle batch with familiar bursts and less CPU is left to
the CPU windows; a miner's long bursts in the same idle agent, or CPU above the usual level, are
judged as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from test_l1_small_batches import _stats as split_stats

from h7.batch import Batch
from h7.config import NS_PER_S, EngineConfig
from h7.detect.channels.base import ChannelContext
from h7.detect.channels.l1_sched import SchedChannel


def _stats(burst: np.ndarray, sleep: np.ndarray, cpu_s: float) -> np.ndarray:
    """A batch of the split shape with these bursts and sleeps and this much CPU time (1-s batch)."""
    s = split_stats(burst, sleep)
    s["oncpu_ns"] = int(cpu_s * 1e9)
    return s


def _hist(counts: dict[int, int]) -> np.ndarray:
    h = np.zeros(32, dtype=np.int64)
    for slot, n in counts.items():
        h[slot] = n
    return h


def _channel(**settings: Any) -> tuple[SchedChannel, ChannelContext]:
    cfg = EngineConfig(read_proc=False, channel_settings={"L1": settings})
    return SchedChannel(cfg), ChannelContext(agent=1, agent_id="t:1:1", info=None, config=cfg)


def _busy_baseline(ch: SchedChannel, ctx: ChannelContext) -> None:
    """30 s of request handling: ~300 bursts of 4-16 us (2-4 % up to 260 us) and short sleeps, 0.4 CPU-s/s."""
    rng = np.random.default_rng(7)
    for i in range(30):
        burst = _hist(
            {12: int(rng.integers(60, 90)), 13: int(rng.integers(150, 200)), 14: int(rng.integers(40, 70))}
        )
        burst[16:18] = rng.integers(3, 7, size=2)  # its timer's work and the odd longer request: 2-4 %
        sleep = _hist(
            {13: int(rng.integers(100, 140)), 14: int(rng.integers(100, 140)), 15: int(rng.integers(60, 90))}
        )
        ch.learn(
            Batch(
                i * NS_PER_S, (i + 1) * NS_PER_S, stats={1: _stats(burst, sleep, 0.4 + 0.02 * rng.random())}
            ),
            ctx,
        )
    ch.finish_baseline(ctx)


def _judge(ch: SchedChannel, ctx: ChannelContext, batches: list[np.ndarray], t0: int = 100) -> list[Any]:
    alerts = []
    for i, s in enumerate(batches):
        alerts += ch.judge(Batch((t0 + i) * NS_PER_S, (t0 + i + 1) * NS_PER_S, stats={1: s}), ctx)
    return alerts


def _idle() -> np.ndarray:
    """The same server idle: a 10 Hz timer, each wakeup's work 30-130 us, 0.2 % of a core."""
    return _stats(_hist({15: 6, 16: 10, 17: 4}), _hist({26: 20}), 0.002)


def test_an_idle_agent_after_a_busy_baseline_is_not_drift() -> None:
    ch, ctx = _channel()
    _busy_baseline(ch, ctx)
    assert ch.split and ch.cpu_level > 0.39
    assert _judge(ch, ctx, [_idle() for _ in range(20)]) == []
    assert ch.doing_less_batches >= 19  # every idle batch was over the shape threshold
    off, octx = _channel(doing_less=False)
    _busy_baseline(off, octx)
    got = _judge(off, octx, [_idle() for _ in range(20)])
    assert [a.code for a in got][:1] == ["DRIFT_DETECTED"]  # the false alert the rule removes


def test_a_miner_in_the_idle_agent_is_still_shape_drift() -> None:
    """10-ms bursts ten times a second: 0.1 CPU-s/s, below the busy baseline's level, beyond its bursts."""
    ch, ctx = _channel()
    _busy_baseline(ch, ctx)

    def mining() -> np.ndarray:
        s = _idle()
        s["burst_hist"][23] += 10
        s["sleep_hist"][26] += 10
        s["switches_voluntary"] += 10
        s["wakeups"] += 10
        s["oncpu_ns"] += int(0.1e9)
        return s

    got = _judge(ch, ctx, [_idle() for _ in range(5)] + [mining() for _ in range(10)])
    assert [a.code for a in got][:1] == ["DRIFT_DETECTED"]
    assert got[0].evidence["metric"] == "jsd"


def test_a_quiet_batch_with_more_cpu_than_usual_is_judged() -> None:
    """Few events but more CPU than the baseline's level: the agent is not doing less."""
    ch, ctx = _channel()
    _busy_baseline(ch, ctx)
    busy_quiet = _stats(_hist({15: 6, 16: 10, 17: 4}), _hist({26: 20}), 0.9)
    before = ch.doing_less_batches
    got = _judge(ch, ctx, [busy_quiet for _ in range(5)])
    assert [a.code for a in got][:1] == ["DRIFT_DETECTED"]
    assert ch.doing_less_batches == before
