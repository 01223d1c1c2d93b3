"""Detection-core throughput on a synthetic journal (no kernel needed).

``run(quick)`` returns figures for ``make bench``:

* ``syscalls_per_s_monitoring``: syscall records per second through
  ``Engine.process`` while monitoring -- all five channels, the per-thread
  sequence model, the trace rings, on one core.  Target >= 1e6.
* ``syscalls_per_s_baseline``: the same during the baseline (learning is
  cheaper per batch; fitting and calibration happen once at the end and are
  included).
* ``immediate_path_us``: mean wall time of ``Engine.on_events`` for one exec
  plus one connect (the L2/L4/L5 path an alert's latency depends on).

The synthetic stream is 8 threads each replaying a first-order Markov chain
over 24 syscalls (so windows repeat as they do in real programs), plus a
hundred discrete events per batch.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from h7.batch import AgentInfo, Batch
from h7.config import NS_PER_S, EngineConfig
from h7.decode import HIST_SLOTS, STATS_DTYPE, SYS_DTYPE
from h7.detect.engine import Engine
from h7.windows import WindowTracker

_NRS = np.array(
    [0, 1, 3, 5, 7, 8, 9, 10, 11, 12, 13, 16, 17, 20, 21, 39, 42, 44, 45, 202, 228, 232, 257, 262]
)
_AGENT = AgentInfo(1, "bench:1000:1", 1000, "/usr/bin/python3", ["python3"], 1)


def _connect(ts: int) -> dict[str, Any]:
    """The allowlisted model-API connect the synthetic agent makes (one shape for both benches)."""
    return {
        "type": "net",
        "ts_ns": ts,
        "agent": 1,
        "pid": 1000,
        "tid": 1001,
        "ppid": 1,
        "uid": 0,
        "comm": "python3",
        "op": "connect",
        "family": "inet",
        "addr": "127.0.0.1",
        "port": 8080,
        "bytes": 0,
    }


def _chain(rng: np.random.Generator, n: int) -> np.ndarray:
    k = _NRS.size
    # Sparse transitions: each syscall has 3 likely successors.
    p = np.full((k, k), 0.002)
    for i in range(k):
        p[i, rng.choice(k, 3, replace=False)] += rng.dirichlet(np.ones(3))
    cum = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(n)
    out = np.empty(n, np.int64)
    s = 0
    for i in range(n):  # generator only; never on the measured path
        s = min(int(np.searchsorted(cum[s], u[i])), k - 1)
        out[i] = s
    return _NRS[out]


def _batches(rng: np.random.Generator, n_batches: int, per_batch: int, chain: np.ndarray) -> list[Batch]:
    out = []
    threads = 8
    windows = WindowTracker()  # what the kernel computes for a live agent
    for b in range(n_batches):
        t0 = (1000 + b) * NS_PER_S
        sys = np.zeros(per_batch, SYS_DTYPE)
        sys["ts_ns"] = t0 + np.sort(rng.integers(0, NS_PER_S, per_batch))
        tids = rng.integers(0, threads, per_batch)
        sys["tid"] = 1000 + tids
        sys["tgid"] = 1000
        sys["agent"] = 1
        # Each thread continues its own walk through the chain.
        nr = np.empty(per_batch, np.int64)
        for t in range(threads):
            m = tids == t
            start = int(rng.integers(0, chain.size - m.sum()))
            nr[m] = chain[start : start + int(m.sum())]
        sys["nr"] = nr
        sys = windows.fill(sys)
        events = []
        for i in range(100):
            ts = t0 + i * (NS_PER_S // 100)
            if i % 2:
                events.append(
                    {
                        "type": "open",
                        "ts_ns": ts,
                        "agent": 1,
                        "pid": 1000,
                        "tid": 1000,
                        "ppid": 1,
                        "uid": 0,
                        "comm": "python3",
                        "path": f"/srv/data/f{i}.json",
                        "flags": 0,
                    }
                )
            else:
                events.append(_connect(ts))
        st = np.zeros((), STATS_DTYPE)
        st["oncpu_hist"] = rng.poisson(200, HIST_SLOTS)
        st["offcpu_hist"] = rng.poisson(200, HIST_SLOTS)
        st["switches_voluntary"] = 5000
        st["syscalls"] = per_batch
        st["connects"] = 50
        st["sends"] = 50
        st["send_bytes"] = 50_000
        out.append(Batch(t0, t0 + NS_PER_S, sys, events, {1: st}, {}))
    return out


def run(quick: bool = False) -> dict[str, float]:
    rng = np.random.default_rng(7)
    per_batch = 200_000 if quick else 1_000_000
    n_base, n_mon = (3, 2) if quick else (5, 5)
    chain = _chain(rng, per_batch + 10_000)
    batches = _batches(rng, n_base + n_mon, per_batch, chain)
    cfg = EngineConfig(
        baseline_ns=n_base * NS_PER_S, read_proc=False, channel_settings={"L4": {"allow": ["127.0.0.1:8080"]}}
    )
    engine = Engine(cfg, [_AGENT])
    t = time.perf_counter()
    for b in batches[:n_base]:
        engine.process(b)
    t_base = time.perf_counter() - t
    assert engine.phase == "monitoring"
    t = time.perf_counter()
    for b in batches[n_base:]:
        engine.process(b)
    t_mon = time.perf_counter() - t
    exec_ev = {
        "type": "exec",
        "ts_ns": 2000 * NS_PER_S,
        "agent": 1,
        "pid": 1002,
        "tid": 1002,
        "ppid": 1000,
        "uid": 0,
        "comm": "ls",
        "filename": "/usr/bin/ls",
        "interp": "/usr/bin/ls",
        "exe_name": "ls",
        "args": ["ls"],
        "ino": 0,
        "dev": 0,
    }
    conn = _connect(2000 * NS_PER_S)
    engine.on_events([exec_ev, conn])  # warm the known-binaries index
    reps = 200
    t = time.perf_counter()
    for _ in range(reps):
        engine.on_events([exec_ev, conn])
    t_imm = time.perf_counter() - t
    return {
        "syscalls_per_s_monitoring": n_mon * per_batch / t_mon,
        "syscalls_per_s_baseline": n_base * per_batch / t_base,
        "immediate_path_us": t_imm / reps * 1e6,
    }


if __name__ == "__main__":  # pragma: no cover
    import sys

    for k, v in run(quick="--quick" in sys.argv).items():
        print(f"{k}: {v:,.1f}")
