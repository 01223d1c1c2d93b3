"""Userspace throughput of the whole detection path, and the highest syscall rate held with zero drops.

``pipeline_events_per_s``: a real agent (bench/load.py, getppid as fast as
it can) fills the syscall ring while nobody drains it; then, pinned to one
CPU, the benchmark does what `h7 attach` does per poll tick -- C drain of a
tick's worth of records, numpy decode/copy, ``Engine.on_syscalls`` -- and
per batch interval ``Sensor.take_batch`` + ``Engine.end_batch`` with all
five channels in monitoring (the baseline is learned first from the same
agent).  Records/s over the whole timed loop is the figure.  The stream
is one thread's getppid(): n-gram and trace work is per record either way,
but a real agent's more varied stream makes the sequence/causal tables
larger, so treat this as the upper end.

``max_sustained_syscalls_per_s``: the same wiring as h7/pipeline.py (Sensor.run
feeding an Engine; .cal signing is left out because alerts are rare and
off the per-syscall path) while the agent issues syscalls at a paced rate,
searched upward from 200,000/s by x1.5 steps until the ring drops a record
or the generator cannot reach the rate (one Python process on one core;
then the figure is a lower bound and ``max_sustained_generator_limited`` is 1).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from h7.config import NS_PER_S, EngineConfig
from h7.decode import SYS_DTYPE
from h7.detect.engine import PHASE_MONITORING, Engine
from h7.sensor.sensor import Sensor, SensorConfig

LOAD = Path(__file__).resolve().parent / "load.py"


def _start_load(rate: float, seconds: float) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, str(LOAD), str(rate), str(seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return p


def _go(p: subprocess.Popen[str]) -> None:
    assert p.stdin is not None
    p.stdin.write("go\n")
    p.stdin.flush()


def _kill(p: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, 9)
    p.wait(timeout=10)


def _engine(s: Sensor, infos: list[Any], batch_ns: int, baseline_ns: int) -> Engine:
    return Engine(EngineConfig(baseline_ns=baseline_ns, batch_ns=batch_ns), infos)


def pipeline_throughput(records: int, tick_records: int = 20_000, batch_ticks: int = 50) -> dict[str, float]:
    """drain -> decode -> all five channels on one core, records/s (see module doc)."""
    per_rec = SYS_DTYPE.itemsize + 8  # BPF ring buffer record header
    ring_bytes = 1 << max(24, int(np.ceil(np.log2(records * per_rec * 1.25))))
    with Sensor(SensorConfig(sys_ring_bytes=ring_bytes, sys_batch_records=tick_records)) as s:
        load = _start_load(0, 60)
        try:
            info = s.add_agent(load.pid)
            engine = _engine(s, [info], batch_ns=NS_PER_S // 4, baseline_ns=NS_PER_S // 2)
            _go(load)
            # baseline from the same agent, through the normal loop
            s.run(
                NS_PER_S // 4,
                engine.end_batch,
                engine.on_events,
                should_stop=lambda: engine.phase == PHASE_MONITORING,
                duration_s=5,
                on_syscalls=engine.on_syscalls,
            )
            if engine.phase != PHASE_MONITORING:
                raise RuntimeError("pipeline bench: the engine did not finish its baseline")
            ring = s._sys_ring
            assert ring is not None
            s.take_batch(0, 1)  # discard what the baseline loop left
            while ring.drain()[1]:
                pass
            deadline = time.monotonic() + 30
            while ring.pending_bytes() < records * per_rec and time.monotonic() < deadline:
                time.sleep(0.005)
        finally:
            _kill(load)
        old = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(old)})
        try:
            n = 0
            batches = 0
            t_batch = time.monotonic_ns()
            t0 = time.perf_counter()
            pending = 0
            for tick in range(1, 1_000_000):
                buf, got = ring.drain(tick_records)
                if got:
                    s._pending_sys.append(np.frombuffer(buf, SYS_DTYPE, count=got).copy())
                    engine.on_syscalls(s.take_new_syscalls())
                    n += got
                    pending += got
                last = got == 0 or n >= records
                if pending and (tick % batch_ticks == 0 or last):
                    now = time.monotonic_ns()
                    engine.end_batch(s.take_batch(t_batch, now))  # every record is judged
                    t_batch = now
                    batches += 1
                    pending = 0
                if last:
                    break
            dt = time.perf_counter() - t0
        finally:
            os.sched_setaffinity(0, old)
    return {
        "pipeline_events_per_s": n / dt,
        "pipeline_records": float(n),
        "pipeline_batches": float(batches),
    }


def sustained(rate: float, seconds: float) -> dict[str, float]:
    """Sensor.run + Engine (all channels) while the agent issues ``rate`` syscalls/s; drops and rates."""
    with Sensor() as s:
        load = _start_load(rate, seconds + 2.2)
        try:
            info = s.add_agent(load.pid)
            engine = _engine(s, [info], batch_ns=NS_PER_S, baseline_ns=2 * NS_PER_S)
            _go(load)
            reason = s.run(
                NS_PER_S,
                engine.end_batch,
                engine.on_events,
                duration_s=seconds + 8,
                on_syscalls=engine.on_syscalls,
            )
            assert load.stdout is not None
            out = load.stdout.read().split()
            load.wait(timeout=10)
        finally:
            _kill(load)
        c = s.ring_counters()
    return {
        "achieved": float(out[1]),
        "drops": float(c["sys_dropped"] + c["events_dropped"]),
        "monitoring": 1.0 if engine.phase == PHASE_MONITORING else 0.0,
        "exited": 1.0 if reason == "agent-exited" else 0.0,
    }


def max_sustained(seconds: float, steps: int, deadline_s: float) -> dict[str, float]:
    best = 0.0
    limited = 0.0
    tried = 0
    rate = 200_000.0
    end = time.monotonic() + deadline_s
    first_drop = float("nan")
    for _ in range(steps):
        if time.monotonic() > end:
            break
        r = sustained(rate, seconds)
        tried += 1
        print(
            f"[pipeline] {rate:,.0f}/s: achieved {r['achieved']:,.0f}/s, drops {r['drops']:.0f}",
            file=sys.stderr,
        )
        if r["drops"] > 0:
            first_drop = r["achieved"]
            break
        best = max(best, r["achieved"])
        if r["achieved"] < 0.95 * rate:
            limited = 1.0  # the generator, not the sensor, is the limit
            break
        rate *= 1.5
    return {
        "max_sustained_syscalls_per_s": best,
        "max_sustained_generator_limited": limited,
        "max_sustained_first_drop_rate": first_drop,
        "max_sustained_steps": float(tried),
    }


def run(quick: bool = False) -> dict[str, float]:
    res = pipeline_throughput(records=400_000 if quick else 1_000_000)
    res.update(
        max_sustained(seconds=2 if quick else 4, steps=2 if quick else 7, deadline_s=12 if quick else 60)
    )
    return res


if __name__ == "__main__":
    for k, v in sorted(run("--quick" in sys.argv).items()):
        print(f"{k:44} {v:16,.2f}")
