"""The end of a baseline, calibrated off the batch path (session 12): the same verdicts, later steps.

L1's and L4's long windows are calibrated by simulating 2e5 CUSUM steps each
(five per agent) and L1's size-aware thresholds by subsampling the baseline a
dozen times: ~40 ms of CPU per agent when its baseline ends.  Live, the
engine leaves that work as steps (``Engine.defer_calibration``) that the
sensor loop runs in the spare time of the batch interval
(``Engine.calibrate_step`` through ``Sensor.run``'s ``on_idle``), and runs
what is left before the agent's next judgement.  These tests pin that the
verdicts and the saved model do not depend on when (or whether) the steps
ran, that the batch which ends a baseline no longer does the work, and that
the real sensor loop gives the idle work its time between drains.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import TIMESCALE

from h7.alert import Alert
from h7.config import EngineConfig
from h7.detect.engine import Engine
from h7.journal import read_journal

DRIFT = Path(__file__).parent / "journals" / "drift"


def _run(name: str, defer: bool, steps_between: int) -> tuple[Engine, list[Alert], list[int]]:
    """Replay a dev journal; with ``defer``, ``steps_between`` calibration steps after each batch."""
    header, batches, trunc = read_journal(DRIFT / f"{name}.h7j")
    assert trunc is None
    engine = Engine(EngineConfig(read_proc=False, channels=["L1", "L4"]), header.agents)
    engine.defer_calibration = defer
    alerts: list[Alert] = []
    pending_after: list[int] = []  # steps left right after the batch that ended the baseline
    for b in batches:
        before = engine.phase
        alerts.extend(engine.process(b))
        if before != "monitoring" and engine.phase == "monitoring":
            pending_after.append(sum(len(st.calibrating) for st in engine.agents.values()))
        for _ in range(steps_between):
            engine.calibrate_step()
    return engine, alerts, pending_after


def _key(a: Alert) -> tuple[Any, ...]:
    return (a.channel, a.code, a.ts_ns, a.divergence, a.threshold, a.key, a.evidence.get("window"))


@pytest.mark.parametrize("name", ["miner10_dev", "egress2x_dev", "eval_mcp_dev"])
def test_deferred_calibration_gives_the_same_verdicts_and_model_whenever_its_steps_run(name: str) -> None:
    ref_engine, ref, _ = _run(name, defer=False, steps_between=0)
    assert ref_engine.phase == "monitoring"
    ref_state = ref_engine.to_state()
    for steps in (0, 1, 3, 1000):  # none before the next judgement, a few per batch, all at once
        engine, got, pending = _run(name, defer=True, steps_between=steps)
        # the batch that ended the baseline left L1's (and L4's) costly part for later
        assert pending and pending[0] >= 1, pending
        assert [_key(a) for a in got] == [_key(a) for a in ref], (name, steps)
        assert engine.to_state() == ref_state, (name, steps)
    assert ref or name == "eval_mcp_dev"  # the attack journals are detected (the same way)


def test_the_batch_ending_the_baseline_leaves_the_windows_to_the_steps() -> None:
    """Deferred: right after that batch L1 says 'calibrating' and has no window yet; the steps set them."""
    header, batches, _ = read_journal(DRIFT / "miner10_dev.h7j")
    engine = Engine(EngineConfig(read_proc=False, channels=["L1", "L4"]), header.agents)
    engine.defer_calibration = True
    it = iter(batches)
    for b in it:
        engine.process(b)
        if engine.phase == "monitoring":
            break
    st = next(iter(engine.agents.values()))
    l1 = next(ch for ch in st.channels if ch.name == "L1")
    status = l1.status()
    assert status["state"] == "calibrating" and status["window"] is None, status
    # the per-batch threshold (cheap, and what the immediate path might need) is set already
    assert status["calibration"]["method"] != "uncalibrated"
    n = 0
    while engine.calibrate_step():
        n += 1
        assert n < 100  # bounded: a dozen sizes and five CUSUMs
    assert n >= 5  # L1: its JSD window, sizes, two CPU windows; L4: three windows
    status = l1.status()
    assert status["state"] == "monitoring" and set(status["window"]) == {"jsd", "cpu", "cpu_excess"}
    assert not st.calibrating
    # and an engine that did it all in the batch holds the same model
    ref = Engine(EngineConfig(read_proc=False, channels=["L1", "L4"]), header.agents)
    for b in batches:
        ref.process(b)
        if ref.phase == "monitoring":
            break
    assert ref.to_state() == engine.to_state()


def test_save_baseline_finishes_the_calibration_first(tmp_path: Path) -> None:
    header, batches, _ = read_journal(DRIFT / "miner10_dev.h7j")
    engine = Engine(EngineConfig(read_proc=False, channels=["L1", "L4"]), header.agents)
    engine.defer_calibration = True
    for b in batches:
        engine.process(b)
        if engine.phase == "monitoring":
            break
    assert any(st.calibrating for st in engine.agents.values())
    engine.save_baseline(tmp_path / "b.h7b")
    assert not any(st.calibrating for st in engine.agents.values())
    loaded = Engine(EngineConfig(read_proc=False, channels=["L1", "L4"]), header.agents)
    loaded.load_baseline(tmp_path / "b.h7b")
    l1 = next(ch for ch in next(iter(loaded.agents.values())).channels if ch.name == "L1")
    assert l1.status()["window"] is not None and l1.status()["state"] == "monitoring"


def test_sensor_loop_gives_idle_work_the_spare_time_of_the_interval(sensor: Any) -> None:
    """Real BPF: ``on_idle`` runs only after a batch, step by step with drains between, until done."""
    interval_ns = int(0.5e9 * TIMESCALE)
    log: list[tuple[str, float]] = []
    left = [0]
    stop = threading.Event()

    def on_batch(_b: Any) -> None:
        log.append(("batch", time.monotonic()))
        if sum(1 for k, _ in log if k == "batch") == 2:
            left[0] = 6  # this batch "ended a baseline": six steps of work

    def on_idle() -> bool:
        log.append(("idle", time.monotonic()))
        if left[0] > 0:
            left[0] -= 1
            time.sleep(0.003)  # a step: a few ms of calibration
        return left[0] > 0

    def on_syscalls(_a: np.ndarray) -> None:
        log.append(("drain", time.monotonic()))

    th = threading.Thread(
        target=lambda: sensor.run(
            interval_ns, on_batch, should_stop=stop.is_set, duration_s=30 * TIMESCALE,
            on_syscalls=on_syscalls, stop_when_no_agents=False, on_idle=on_idle,
        ),
        daemon=True,
    )  # fmt: skip
    th.start()
    deadline = time.monotonic() + 20 * TIMESCALE
    while time.monotonic() < deadline and sum(1 for k, _ in log if k == "batch") < 5:
        time.sleep(0.05)
    stop.set()
    th.join(timeout=10 * TIMESCALE)
    assert not th.is_alive()
    kinds = [k for k, _ in log if k != "drain"]
    assert kinds.count("batch") >= 5, kinds
    b = [i for i, k in enumerate(kinds) if k == "batch"]
    # nothing idle before the first batch; after each batch with no work left, one look (False)
    assert kinds[: b[0]] == []
    assert kinds[b[0] + 1 : b[1]] == ["idle"]
    # the six steps (and the look that says none is left) all fall in the interval after batch 2,
    # before the next batch is due -- not in one go at the batch
    assert kinds[b[1] + 1 : b[2]] == ["idle"] * 6, kinds
    assert kinds[b[2] + 1 : b[3]] == ["idle"]
    times = [t for k, t in log if k == "idle"][1:7]
    batch2 = [t for k, t in log if k == "batch"][1]
    assert times[-1] - batch2 < interval_ns / 1e9, (times, batch2)
