"""`make bench` section "window": what the long windows and the alert folding cost.

Figures (all one Python thread, this host):

* ``window_calibrate_ms`` -- one CUSUM's calibration (the simulation), done
  5 times per agent (L1's JSD and CPU time + three L4 metrics) once, at the
  end of its baseline, on the engine's batch path.  ``window_simulate_ms`` is
  its simulation alone (h7.detect.window.simulated_quantile, session 11) and
  ``window_simulate_ms_plain`` the loop and ``np.quantile`` it replaced
  (``plain_simulated_quantile`` below: the same figure, the before/after).
* ``l1_finish_baseline_ms`` / ``l1_finish_baseline_ms_nosize`` -- L1's whole
  end of baseline for an agent with busy and quiet seconds, with and without
  its size-aware thresholds and quiet reference (session 11): their cost.
* ``baseline_end_batch_ms`` / ``baseline_end_batch_ms_inline`` -- the engine's
  ``end_batch`` of the batch that ends an agent's baseline (L1 + L4, CPU ms):
  with the costly calibration left as steps for the sensor's idle time
  (``Engine.defer_calibration``, live since session 12) and done in the batch
  (as before, and as a replay still does).  ``calibrate_step_max_ms`` is the
  longest of those steps -- the most one step delays a drain --,
  ``calibrate_steps`` how many there are, ``calibrate_steps_total_ms`` their sum.
* ``window_update_ns`` -- one CUSUM step, per batch per metric.
* ``l1_judge_us_window`` / ``l1_judge_us_nowindow`` and the same for L4 --
  a whole per-batch judgement with the long windows on and off (for L1: the
  JSD's and the CPU time's): the difference is the windows' cost per batch
  per agent.
* ``l1_judge_us_unsplit`` -- L1's per-batch judgement (windows on) on counters
  without the run-queue split (an older sensor or journal): next to
  ``l1_judge_us_window`` (split, session 10) it is the split's cost in userspace.
* ``fold_admit_ns`` -- the alert folder's cost per channel verdict (a repeat).
* ``l4_new_destination_us`` / ``l4_known_destination_us`` -- L4's immediate
  path per event during a storm of distinct destinations / of repeats.
* ``l1_cpu_read_us`` -- what L1's exact CPU time (running slices included)
  costs the sensor per agent per batch: the ``agent_run`` map lookup and the
  sum (real BPF, a watched sleeping child; absent without root/BPF).  The
  kernel side -- two atomic adds on each switch of an agent thread, nothing
  for other tasks -- is inside section ``overhead``'s ``h7_sched_switch``
  ns per run.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from h7 import registry
from h7.alert import Alert
from h7.batch import Batch
from h7.config import NS_PER_S, EngineConfig
from h7.decode import STATS_DTYPE
from h7.detect.channels.base import ChannelContext
from h7.detect.channels.l1_sched import SchedChannel
from h7.detect.channels.l4_egress import EgressChannel
from h7.detect.folding import AgentFolder
from h7.detect.window import SIM_RUNS, SIM_STEPS, calibrate_cusum, simulated_quantile


def plain_simulated_quantile(steps: np.ndarray, budget: float, seed: int = 0) -> float:
    """The CUSUM simulation as it was before session 11: a loop of new arrays and ``np.quantile``.

    Kept as the reference that ``simulated_quantile`` must equal exactly
    (tests/test_l1_small_batches.py) and as the "before" row of this section.
    """
    rng = np.random.default_rng(seed)
    draws = rng.choice(steps, size=(SIM_STEPS, SIM_RUNS), replace=True)
    s = np.zeros(SIM_RUNS)
    seen = np.empty((SIM_STEPS, SIM_RUNS))
    for t in range(SIM_STEPS):
        s = np.maximum(0.0, s + draws[t])
        seen[t] = s
    return float(np.quantile(seen, 1.0 - budget))


def _l1_baseline(rng: np.random.Generator, **settings: Any) -> tuple[SchedChannel, ChannelContext]:
    """L1 fed 30 baseline batches, every third a quiet second (few bursts and sleeps), not finished."""
    cfg = EngineConfig(read_proc=False, channel_settings={"L1": settings})
    ctx = ChannelContext(agent=1, agent_id="bench:1:1", info=None, config=cfg)
    l1 = SchedChannel(cfg)
    for i in range(30):
        s = _stats(rng)
        if i % 3 == 0:
            for f in ("burst_hist", "sleep_hist"):
                s[f] = rng.poisson(1, len(s[f]))
        l1.learn(Batch(i * NS_PER_S, (i + 1) * NS_PER_S, stats={1: s}), ctx)
    return l1, ctx


def _finish_ms(reps: int, **settings: Any) -> float:
    """Median CPU ms of L1's finish_baseline (CPU time: this host's wall clock is shared)."""
    ts = []
    for r in range(reps):
        l1, ctx = _l1_baseline(np.random.default_rng(r), **settings)
        t0 = time.process_time_ns()
        l1.finish_baseline(ctx)
        ts.append((time.process_time_ns() - t0) / 1e6)
    return float(np.median(ts))


def _baseline_end(reps: int) -> dict[str, float]:
    """CPU ms of the baseline-ending batch, deferred and inline, and of each deferred step (medians)."""
    from h7.batch import AgentInfo
    from h7.detect.engine import Engine

    cols: dict[str, list[float]] = {k: [] for k in ("defer", "inline", "step_max", "steps", "total")}
    for r in range(reps):
        for defer in (True, False):
            rng = np.random.default_rng(r)
            cfg = EngineConfig(read_proc=False, channels=["L1", "L4"], baseline_ns=30 * NS_PER_S)
            engine = Engine(cfg, [AgentInfo(1, "bench:1:1", 1, "/bin/agent", ["agent"], 0)])
            engine.defer_calibration = defer
            t = 0.0
            for i in range(31):
                s = _stats(rng)
                s["syscalls"] = 200  # an active agent (the engine refuses an idle baseline)
                if i % 3 == 0:  # quiet seconds, as in _l1_baseline: L1's size thresholds have work
                    for f in ("burst_hist", "sleep_hist"):
                        s[f] = rng.poisson(1, len(s[f]))
                b = Batch(i * NS_PER_S, (i + 1) * NS_PER_S, stats={1: s})
                engine.on_syscalls(b.syscalls)
                t0 = time.process_time_ns()
                engine.end_batch(b)
                t = (time.process_time_ns() - t0) / 1e6
                if engine.phase == "monitoring":
                    break
            assert engine.phase == "monitoring"
            cols["defer" if defer else "inline"].append(t)
            if defer:
                steps = []
                while True:
                    t0 = time.process_time_ns()
                    more = engine.calibrate_step()
                    steps.append((time.process_time_ns() - t0) / 1e6)
                    if not more:
                        break
                cols["step_max"].append(max(steps))
                cols["steps"].append(len(steps) - 1)  # the last call only finds nothing left
                cols["total"].append(sum(steps))
    return {
        "baseline_end_batch_ms": float(np.median(cols["defer"])),
        "baseline_end_batch_ms_inline": float(np.median(cols["inline"])),
        "calibrate_step_max_ms": float(np.median(cols["step_max"])),
        "calibrate_steps": float(np.median(cols["steps"])),
        "calibrate_steps_total_ms": float(np.median(cols["total"])),
    }


def _per(fn: Any, n: int) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - t0) / n


def _stats(rng: np.random.Generator, split: bool = True) -> np.ndarray:
    s = np.zeros(1, STATS_DTYPE)[0]
    s["oncpu_hist"] = rng.poisson(20, len(s["oncpu_hist"]))
    s["offcpu_hist"] = rng.poisson(20, len(s["offcpu_hist"]))
    if split:  # a sensor with the run-queue split (bpf/h7.h): L1 judges bursts and sleeps
        for f in ("burst_hist", "sleep_hist", "rqwait_hist"):
            s[f] = rng.poisson(20, len(s[f]))
    for f in ("switches_voluntary", "switches_involuntary", "wakeups", "connects", "sends"):
        s[f] = rng.poisson(30)
    s["send_bytes"] = rng.poisson(30_000)
    return s


def _channels(
    window: bool, rng: np.random.Generator, split: bool = True
) -> tuple[SchedChannel, EgressChannel, ChannelContext]:
    cfg = EngineConfig(read_proc=False, channel_settings={"L1": {"window": window}, "L4": {"window": window}})
    ctx = ChannelContext(agent=1, agent_id="bench:1:1", info=None, config=cfg)
    l1, l4 = SchedChannel(cfg), EgressChannel(cfg)
    for i in range(30):
        b = Batch(i * NS_PER_S, (i + 1) * NS_PER_S, stats={1: _stats(rng, split)})
        l1.learn(b, ctx)
        l4.learn(b, ctx)
    l1.finish_baseline(ctx)
    l4.finish_baseline(ctx)
    return l1, l4, ctx


def run(quick: bool = False) -> dict[str, float]:
    rng = np.random.default_rng(0)
    n = 200 if quick else 2000
    out: dict[str, float] = {}
    samples = rng.gamma(2.0, 0.01, 30)
    out["window_calibrate_ms"] = _per(lambda: calibrate_cusum(samples, budget=1e-3), 5 if quick else 20) / 1e6
    steps = samples - float(np.median(samples) + samples.std())
    reps = 5 if quick else 20
    for tag, fn in (("", simulated_quantile), ("_plain", plain_simulated_quantile)):
        t0 = time.process_time_ns()
        for _ in range(reps):
            fn(steps, 1e-3)
        out[f"window_simulate_ms{tag}"] = (time.process_time_ns() - t0) / reps / 1e6
    out["l1_finish_baseline_ms"] = _finish_ms(3 if quick else 9)
    out["l1_finish_baseline_ms_nosize"] = _finish_ms(
        3 if quick else 9, size_aware=False, quiet_reference=False
    )
    out.update(_baseline_end(3 if quick else 9))
    cu = calibrate_cusum(samples, budget=1e-3)
    out["window_update_ns"] = _per(lambda: cu.update(0.01), n * 10)
    batches = [Batch(i * NS_PER_S, (i + 1) * NS_PER_S, stats={1: _stats(rng)}) for i in range(100, 100 + n)]
    for window in (True, False):
        l1, l4, ctx = _channels(window, np.random.default_rng(1))
        it1 = iter(batches)
        it4 = iter(batches)
        tag = "window" if window else "nowindow"
        out[f"l1_judge_us_{tag}"] = _per(lambda l1=l1, ctx=ctx, it=it1: l1.judge(next(it), ctx), n) / 1e3
        out[f"l4_judge_us_{tag}"] = _per(lambda l4=l4, ctx=ctx, it=it4: l4.judge(next(it), ctx), n) / 1e3
    # the same judgement on a sensor without the run-queue split (the unsplit shape, as before)
    l1u, _, ctx = _channels(True, np.random.default_rng(1), split=False)
    flat = [Batch(b.t0_ns, b.t1_ns, stats={1: _stats(rng, split=False)}) for b in batches]
    itu = iter(flat)
    out["l1_judge_us_unsplit"] = _per(lambda it=itu: l1u.judge(next(it), ctx), n) / 1e3
    folder = AgentFolder(600 * NS_PER_S, 5)
    a = Alert("L4", registry.codes()["L4"][0], "bench:1:1", 1, 1.0, 1.0, "10.0.0.1:443", {})
    folder.admit(a)
    out["fold_admit_ns"] = _per(lambda: folder.admit(a), n * 10)
    _, l4, ctx = _channels(False, np.random.default_rng(2))
    m = n * 10
    evs = [
        {"type": "net", "family": "inet", "addr": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
         "port": 443, "ts_ns": i, "op": "connect", "pid": 1, "comm": "x"}
        for i in range(m)
    ]  # fmt: skip
    ctx.phase = "monitoring"
    t0 = time.perf_counter_ns()
    l4.on_events(evs, ctx)
    out["l4_new_destination_us"] = (time.perf_counter_ns() - t0) / m / 1e3
    t0 = time.perf_counter_ns()
    l4.on_events(evs, ctx)
    out["l4_known_destination_us"] = (time.perf_counter_ns() - t0) / m / 1e3
    read = _cpu_read_us(n)
    if read is not None:
        out["l1_cpu_read_us"] = read
    return {k: round(v, 3) for k, v in out.items()}


def _cpu_read_us(n: int) -> float | None:
    """Per agent per batch: read struct h7_run (one per CPU) and add the running slices (live sensor)."""
    import os
    import subprocess
    import sys

    if os.geteuid() != 0:
        return None
    try:
        from h7.sensor.sensor import Sensor, _cpu_ns
    except ImportError:
        return None
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    sensor = Sensor()
    try:
        sensor.open()
        agent = sensor.add_agent(child.pid).agent

        def once() -> None:
            _cpu_ns(sensor._read_run(agent), time.monotonic_ns())

        return _per(once, n * 10) / 1e3
    except Exception:  # no BPF here: the figure is absent, the rest stands
        return None
    finally:
        sensor.close()
        child.kill()
        child.wait()


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=1))
