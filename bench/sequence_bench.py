"""Throughput of the sequence models, for ``make bench``.

The workload is synthetic so the benchmark runs anywhere: traces are concatenations of a few
dozen fixed "code paths" over Linux-range syscall numbers (real processes repeat short call
sequences, which is what gives n-gram tables their size), with 0.1 % of calls replaced by random
ones so that lookups miss as well as hit.  Timings are best-of-3 wall clock on one core.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgpack
import numpy as np
import numpy.typing as npt

from h7.detect.channels.l3_causal import L3Settings
from h7.detect.sequence import SequenceModel, StideModel, window_codes

I64 = npt.NDArray[np.int64]


def _workload(seed: int, n_traces: int, calls_per_trace: int) -> list[I64]:
    rng = np.random.default_rng(seed)
    paths = [rng.integers(0, 461, size=int(rng.integers(3, 25))) for _ in range(40)]
    weights = rng.dirichlet(np.full(len(paths), 0.5))
    mean_len = float(np.mean([p.size for p in paths]))
    out = []
    for _ in range(n_traces):
        picks = rng.choice(len(paths), size=int(calls_per_trace / mean_len) + 1, p=weights)
        tr = np.concatenate([paths[i] for i in picks])[:calls_per_trace].astype(np.int64)
        noise = rng.random(tr.size) < 0.001
        tr[noise] = rng.integers(-1, 461, size=int(noise.sum()))
        out.append(tr)
    return out


def _best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(quick: bool) -> dict[str, float]:
    """Fit on a baseline-sized sample, then score one long trace (the L3 hot path)."""
    fit_calls = 300_000 if quick else 3_000_000
    score_calls = 1_000_000 if quick else 10_000_000
    train = _workload(1, 30, fit_calls // 30)
    (probe,) = _workload(2, 1, score_calls)
    # The workload falls a little short of the nominal sizes; rates are per syscall actually run.
    fit_calls = sum(t.size for t in train)
    score_calls = probe.size

    m = SequenceModel()
    fit_s = _best_of(lambda: m.fit(train))
    score_s = _best_of(lambda: m.score(probe))
    # The kernel path: a baseline kept as distinct window codes with counts, and shipped codes
    # scored on their own.
    pairs = [np.unique(window_codes(t), return_counts=True) for t in train]
    fit_codes_s = _best_of(lambda: SequenceModel().fit_codes(pairs))
    codes = window_codes(probe)
    code_s = _best_of(lambda: m.code_novelty(codes))
    # L3's own setting ([detect.l3] defaults: order 4, "last", top max(64, 0.5 n)): what the
    # sensor runs per shipped window, and a whole-trace score that holds every novelty.
    ml3 = L3Settings().sequence_model().fit_codes(pairs)
    l3_code_s = _best_of(lambda: ml3.code_novelty(codes))
    frac_s = _best_of(lambda: ml3.score(probe))
    # The same setting with Kneser-Ney smoothing (an option of [detect.l3], not the default).
    kn_cfg = L3Settings(seq_smoothing="kn")
    kn_fit_s = _best_of(lambda: kn_cfg.sequence_model().fit_codes(pairs))
    mkn = kn_cfg.sequence_model().fit_codes(pairs)
    kn_code_s = _best_of(lambda: mkn.code_novelty(codes))
    st = StideModel().fit(train)
    stide_s = _best_of(lambda: st.score(probe))
    return {
        "sequence_fit_s": fit_s,
        "sequence_fit_syscalls": float(fit_calls),
        "sequence_fit_syscalls_per_s": fit_calls / fit_s,
        "sequence_fit_codes_syscalls_per_s": fit_calls / fit_codes_s,
        "sequence_score_syscalls_per_s": score_calls / score_s,
        "sequence_code_novelty_per_s": score_calls / code_s,
        "sequence_l3_code_novelty_per_s": score_calls / l3_code_s,
        "sequence_l3_score_syscalls_per_s": score_calls / frac_s,
        "sequence_l3_table_bytes": float(ml3.nbytes()),
        "sequence_kn_fit_codes_syscalls_per_s": fit_calls / kn_fit_s,
        "sequence_kn_code_novelty_per_s": score_calls / kn_code_s,
        "sequence_kn_table_bytes": float(mkn.nbytes()),
        "stide_score_syscalls_per_s": score_calls / stide_s,
        "sequence_state_bytes": float(len(msgpack.packb(m.to_state(), use_bin_type=True))),
    }


if __name__ == "__main__":
    import sys

    for k, v in run(quick="--quick" in sys.argv).items():
        print(f"{k}: {v:,.3f}")
