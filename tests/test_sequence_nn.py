"""The GRU language model over syscalls (offline sequence mode): gradients, learning, scoring, state."""

from __future__ import annotations

import numpy as np
import pytest

from h7.detect.sequence_nn import GRUSequenceModel, _segments, _Streams


def _loss(m: GRUSequenceModel, st: _Streams, h0: np.ndarray) -> float:
    """Mean cross-entropy by a plain per-step loop (float64), independent of ``_grad``."""
    p = {k: v.astype(np.float64) for k, v in m.params.items()}
    hn = m.hidden
    h = h0.astype(np.float64)
    total = 0.0
    for t in range(st.n):
        h = h * (~st.reset[t])[:, None]
        ax = p["emb"][st.inp[t]] @ p["wx"] + p["b"]
        ah = h @ p["uh"]
        z = 1 / (1 + np.exp(-(ax[:, :hn] + ah[:, :hn])))
        r = 1 / (1 + np.exp(-(ax[:, hn : 2 * hn] + ah[:, hn : 2 * hn])))
        n = np.tanh(ax[:, 2 * hn :] + r * (ah[:, 2 * hn :] + p["bhn"]))
        h = (1 - z) * n + z * h
        lg = h @ p["wo"] + p["bo"]
        lse = np.log(np.exp(lg).sum(1))
        total += float(((lse - lg[np.arange(st.b), st.tgt[t]]) * st.weight[t]).sum())
    return total / float(st.weight.sum())


def test_backpropagation_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    traces = [rng.integers(0, 6, n) for n in (7, 5, 9, 3)]
    m = GRUSequenceModel(hidden=4, dim=3, epochs=1, streams=2, bptt=50, context=4)
    m.vocab = np.unique(np.concatenate(traces) + 2)
    m._init(rng)
    m.params = {k: (v + rng.standard_normal(v.shape) * 0.3).astype(np.float64) for k, v in m.params.items()}
    st = _Streams(_segments(m._index(traces), m.context, m._n_out), 2, m._n_out)
    assert st.reset.sum() == 8  # 24 calls cut every 4 calls: 2 + 2 + 3 + 1 segments
    h0 = rng.standard_normal((st.b, 4)) * 0.5
    grads, _ = m._grad(st, 0, st.n, h0.astype(np.float64), norm=float(st.weight.sum()))
    for k, a in m.params.items():
        num = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + 1e-5
            up = _loss(m, st, h0)
            a[i] = old - 1e-5
            down = _loss(m, st, h0)
            a[i] = old
            num[i] = (up - down) / 2e-5
        np.testing.assert_allclose(grads[k], num, atol=1e-6, err_msg=k)


def _periodic(rng: np.random.Generator, n: int) -> np.ndarray:
    """A process looping over one of two fixed call patterns, chosen by its first call."""
    first = int(rng.integers(0, 2))
    pat = [first, 3, 4, 5] if first == 0 else [first, 6, 7]
    reps = -(-n // len(pat))
    return np.array([first, *pat[1:]] * reps)[:n]


def test_it_learns_and_flags_what_the_baseline_never_did() -> None:
    rng = np.random.default_rng(0)
    train = [_periodic(rng, int(rng.integers(20, 120))) for _ in range(40)]
    m = GRUSequenceModel(hidden=16, dim=8, epochs=30, streams=8, seed=3).fit(train)
    normal = [_periodic(rng, 60) for _ in range(10)]
    nov = m.novelties(normal)
    # after the first call the loop is fully predictable
    assert max(float(v[4:].mean()) for v in nov) < 0.2
    # a known call out of its loop, and a call never seen, are both surprising; the new one more
    odd = normal[0].copy()
    odd[30] = 7 if odd[0] == 0 else 4
    new = normal[0].copy()
    new[30] = 99
    v_odd, v_new = m.novelties([odd, new])
    assert v_odd[30] > 2.0 and v_new[30] > v_odd[30]


def test_scoring_is_per_trace_whatever_is_batched_with_it() -> None:
    rng = np.random.default_rng(2)
    train = [rng.integers(0, 12, int(rng.integers(5, 80))) for _ in range(30)]
    m = GRUSequenceModel(hidden=8, dim=4, epochs=2, context=16).fit(train)
    probe = [rng.integers(0, 14, n) for n in (0, 1, 15, 16, 50, 33)]
    probe.insert(4, np.append(probe[3], 5))  # 17 calls, the first 16 those of probe[3]
    together = m.novelties(probe, streams=3)
    for t, v in zip(probe, together, strict=True):
        assert v.shape == t.shape
        np.testing.assert_allclose(v, m.window_novelty(t), rtol=1e-5, atol=1e-6)
    # the context cut: the first 16 calls of a 17-call trace are those of its 16-call prefix
    np.testing.assert_allclose(together[4][:16], together[3], rtol=1e-5, atol=1e-6)


def test_state_round_trip_and_bad_input() -> None:
    rng = np.random.default_rng(4)
    train = [rng.integers(0, 9, 40) for _ in range(10)]
    m = GRUSequenceModel(hidden=8, dim=4, epochs=1).fit(train)
    m2 = GRUSequenceModel.from_state(m.to_state())
    probe = [rng.integers(0, 11, 30)]
    np.testing.assert_array_equal(m.novelties(probe)[0], m2.novelties(probe)[0])
    with pytest.raises(ValueError):
        GRUSequenceModel.from_state({"format": "h7.sequence/2"})
    bad = m.to_state()
    bad["hidden"] = 9
    with pytest.raises(ValueError):
        GRUSequenceModel.from_state(bad)
    with pytest.raises(ValueError):
        GRUSequenceModel().fit([np.zeros(0, np.int64)])
    with pytest.raises(RuntimeError):
        GRUSequenceModel().novelties([np.arange(3)])
    with pytest.raises(ValueError):
        m.novelties([np.array([1.5, 2.0])])
    with pytest.raises(ValueError):
        GRUSequenceModel(hidden=0)


def test_blas_runs_on_one_thread_inside_and_is_restored_after() -> None:
    from h7.detect.sequence_nn import _blas_thread_controls, _one_blas_thread

    ctl = _blas_thread_controls()
    before = [int(get()) for get, _ in ctl]
    with _one_blas_thread():
        assert all(int(get()) == 1 for get, _ in ctl)
    assert [int(get()) for get, _ in ctl] == before
