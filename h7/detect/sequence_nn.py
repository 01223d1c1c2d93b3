"""A small recurrent language model over syscall tokens: an OFFLINE sequence mode (not used by L3).

Why a recurrent model was tried: the window models in ``h7.detect.sequence`` see a syscall's
last six predecessors and nothing else.  On ADFA-LD (Linux, 2013) every window model, however
smoothed and however its novelties are combined, sits near stide (AUC 0.83-0.85), because an
ADFA-LD attack is a whole process that is mildly unusual *throughout*.  A GRU carries a summary
of the trace so far in its hidden state, so the probability it gives the next call depends on
much more than six calls (larger published LSTM models are reported at ~0.93 AUC on ADFA-LD).
Measured here it did not help: its whole-trace mean is 0.820 on ADFA-LD and, chosen
leave-one-corpus-out, it meets issue 15's bar on no corpus (docs/sequence-model.md, "Offline
mode 2").  It is kept as a reproducible negative result and an offline tool.

Why offline only: the recurrence is a Python loop over time steps, vectorised across traces
(~0.2 M calls/s with 512 traces side by side on one core), not the >= 1 M/s the live sensor
needs, and it must see every syscall in order, while the kernel ships only the syscalls whose
window is new.  It judges recorded whole traces (a journal, a corpus).

The model (pure numpy, deterministic for a seed):

* tokens: the syscalls seen in training, plus one "unseen" token (never a training target, so a
  call the baseline never made is very surprising) and a start token (input only);
* an embedding of ``dim`` floats per token, one GRU layer of ``hidden`` units, a softmax over the
  training tokens + "unseen";
* traces are cut every ``context`` calls, each segment starting from a zero state (training and
  scoring alike), which bounds the work a very long trace costs;
* training: all segments laid end to end in ``streams`` parallel streams, truncated
  back-propagation every ``bptt`` steps, Adam, a fixed number of ``epochs`` (no early stopping:
  there is no held-out set to stop on that would not be a test set), gradient norm clipped at 5;
* a position's novelty = ``-ln p(x_t | x_<t)`` in nats, the same unit as
  ``SequenceModel.window_novelty``, so the same top-k / mean aggregates apply.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["GRUSequenceModel"]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_STATE_FORMAT = "h7.sequence-gru/1"
#: Syscall numbers are mapped through a table of this size (as the window codes: nr + 2 for
#: -1..1020, anything else one "other" bucket).
_NR_SPAN = 1024


def _blas_thread_controls() -> list[tuple[Any, Any]]:
    """(get, set) thread-count functions of every OpenBLAS loaded in this process (may be none)."""
    out: list[tuple[Any, Any]] = []
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() and "/" in ln})
    except OSError:
        return out
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pre in ("scipy_openblas", "openblas"):
            for suf in ("64_", ""):
                get = getattr(lib, f"{pre}_get_num_threads{suf}", None)
                put = getattr(lib, f"{pre}_set_num_threads{suf}", None)
                if get is not None and put is not None:
                    out.append((get, put))
                    break
            else:
                continue
            break
    return out


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run numpy's matrix products on one thread, then restore the previous count.

    Why: the recurrence multiplies small matrices once per time step; OpenBLAS splits each over
    all cores, and on a busy 2-core machine that made scoring 7x slower (24.6 s vs 3.5 s for one
    corpus) than one thread.  Without a loadable OpenBLAS this does nothing.
    """
    ctl = _blas_thread_controls()
    before = [int(get()) for get, _ in ctl]
    for _, put in ctl:
        put(1)
    try:
        yield
    finally:
        for (_, put), n in zip(ctl, before, strict=True):
            put(n)


def _tokens(trace: npt.ArrayLike) -> I64:
    a = np.asarray(trace)
    if a.ndim != 1 or not (a.size == 0 or np.issubdtype(a.dtype, np.integer)):
        raise ValueError("a trace must be a 1-D array of integer syscall numbers")
    a = a.astype(np.int64, copy=False)
    return np.where((a >= -1) & (a <= _NR_SPAN - 4), a + 2, _NR_SPAN - 1)


def _sigmoid(x: F32) -> F32:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float32)


def _segments(traces: Sequence[I64], context: int, start: int) -> list[tuple[I64, I64]]:
    """(inputs, targets) of every segment: traces cut every ``context`` calls.

    A segment starts from a zero hidden state; its first input is the call before it in the trace
    (the start token at the trace's beginning), so the model reads at most the last ``context``
    to ``2 * context - 1`` calls.  Training and scoring cut the same way: one definition.
    """
    out = []
    for t in traces:
        prev = np.concatenate(([start], t[:-1])) if t.size else t
        for lo in range(0, t.size, context):
            out.append((prev[lo : lo + context], t[lo : lo + context]))
    return out


class _Streams:
    """Segments laid end to end in ``b`` parallel streams (inputs, targets, reset flags).

    ``reset`` marks a segment's first call, where the hidden state restarts at zero.  ``weight`` is
    0 on padding.  Longest first into the emptiest stream keeps the streams of similar length.
    """

    def __init__(self, segs: Sequence[tuple[I64, I64]], b: int, start: int) -> None:
        b = max(1, min(b, len(segs)))
        lens = np.array([t.size for _, t in segs], dtype=np.int64)
        fill = np.zeros(b, dtype=np.int64)
        where = np.zeros((len(segs), 2), dtype=np.int64)  # (stream, offset)
        for i in np.argsort(-lens, kind="stable"):
            s = int(np.argmin(fill))
            where[i] = (s, fill[s])
            fill[s] += lens[i]
        n = int(fill.max()) if fill.size else 0
        self.b, self.n = b, n
        self.inp = np.full((n, b), start, dtype=np.int64)
        self.tgt = np.zeros((n, b), dtype=np.int64)
        self.reset = np.zeros((n, b), dtype=bool)
        self.weight = np.zeros((n, b), dtype=np.float32)
        self.where = where
        self.lens = lens
        for i, (x, y) in enumerate(segs):
            if y.size == 0:
                continue
            s, o = where[i]
            self.tgt[o : o + y.size, s] = y
            self.inp[o : o + y.size, s] = x
            self.reset[o, s] = True
            self.weight[o : o + y.size, s] = 1.0

    def per_segment(self, v: F32) -> list[F64]:
        """Values laid out like the streams -> one float64 array per segment."""
        return [v[o : o + n, s].astype(np.float64) for (s, o), n in zip(self.where, self.lens, strict=True)]


class GRUSequenceModel:
    """One-layer GRU language model over syscalls; ``window_novelty`` is its per-call surprisal."""

    def __init__(
        self,
        hidden: int = 32,
        dim: int = 16,
        epochs: int = 8,
        lr: float = 0.01,
        bptt: int = 32,
        streams: int = 64,
        seed: int = 0,
        context: int = 2048,
    ) -> None:
        sizes = (("hidden", hidden), ("dim", dim), ("epochs", epochs), ("bptt", bptt), ("streams", streams))
        for name, v in (*sizes, ("context", context)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        self.hidden, self.dim, self.epochs, self.lr = hidden, dim, epochs, float(lr)
        self.bptt, self.streams, self.seed, self.context = bptt, streams, seed, context
        self.vocab: I64 | None = None  # training tokens, sorted
        self.params: dict[str, F32] = {}

    # --- vocabulary ------------------------------------------------------------------------------

    def _index(self, traces: Iterable[npt.ArrayLike]) -> list[I64]:
        """Syscalls -> model indices: 0..V-1 the training tokens, V "unseen"."""
        return self._lookup([_tokens(t) for t in traces])

    def _lookup(self, tokens: Iterable[I64]) -> list[I64]:
        assert self.vocab is not None
        lut = np.full(_NR_SPAN, self.vocab.size, dtype=np.int64)
        lut[self.vocab] = np.arange(self.vocab.size)
        return [lut[t] for t in tokens]

    @property
    def _n_out(self) -> int:
        assert self.vocab is not None
        return int(self.vocab.size) + 1  # + "unseen"

    # --- fitting ---------------------------------------------------------------------------------

    def _init(self, rng: np.random.Generator) -> None:
        v, d, h = self._n_out, self.dim, self.hidden

        def u(*shape: int, fan: int) -> F32:
            lim = 1.0 / np.sqrt(fan)
            return rng.uniform(-lim, lim, shape).astype(np.float32)

        self.params = {
            "emb": (rng.standard_normal((v + 1, d)) * 0.1).astype(np.float32),  # + start token
            "wx": u(d, 3 * h, fan=d),
            "uh": u(h, 3 * h, fan=h),
            "b": np.zeros(3 * h, np.float32),
            "bhn": np.zeros(h, np.float32),
            "wo": u(h, v, fan=h),
            "bo": np.zeros(v, np.float32),
        }

    def fit(self, traces: Iterable[npt.ArrayLike]) -> GRUSequenceModel:
        with _one_blas_thread():
            return self._fit(traces)

    def _fit(self, traces: Iterable[npt.ArrayLike]) -> GRUSequenceModel:
        raw = [t for t in (_tokens(t) for t in traces) if t.size]
        if not raw:
            raise ValueError("GRUSequenceModel.fit: no syscalls to learn from")
        self.vocab = np.unique(np.concatenate(raw))
        idx = self._lookup(raw)
        rng = np.random.default_rng(self.seed)
        self._init(rng)
        p = self.params
        m = {k: np.zeros_like(a) for k, a in p.items()}
        s2 = {k: np.zeros_like(a) for k, a in p.items()}
        step = 0
        start = self._n_out  # the start token's embedding row
        for epoch in range(self.epochs):
            order = rng.permutation(len(idx))
            st = _Streams(_segments([idx[i] for i in order], self.context, start), self.streams, start)
            h = np.zeros((st.b, self.hidden), np.float32)
            # linear decay to 10 % over training: large steps early, a settled model at the end
            for lo in range(0, st.n, self.bptt):
                hi = min(st.n, lo + self.bptt)
                frac = (epoch + lo / max(1, st.n)) / self.epochs
                lr = self.lr * (1.0 - 0.9 * frac)
                grads, h = self._grad(st, lo, hi, h, norm=max(1.0, float(st.weight[lo:hi].sum())))
                gn = float(np.sqrt(sum(float((g * g).sum()) for g in grads.values())))
                if gn > 5.0:
                    for g in grads.values():
                        g *= 5.0 / gn
                step += 1
                c1, c2 = 1.0 - 0.9**step, 1.0 - 0.999**step
                for k, g in grads.items():
                    m[k] = 0.9 * m[k] + 0.1 * g
                    s2[k] = 0.999 * s2[k] + 0.001 * g * g
                    p[k] -= (lr * (m[k] / c1) / (np.sqrt(s2[k] / c2) + 1e-8)).astype(np.float32)
        return self

    def _grad(self, st: _Streams, lo: int, hi: int, h0: F32, norm: float) -> tuple[dict[str, F32], F32]:
        """Mean cross-entropy gradient over one truncated chunk; returns the chunk's last state."""
        p = self.params
        H = self.hidden
        inp, tgt = st.inp[lo:hi], st.tgt[lo:hi]
        keep = (~st.reset[lo:hi]).astype(np.float32)[..., None]
        w = st.weight[lo:hi]
        t_len, b = inp.shape
        e = p["emb"][inp]  # (T, B, d)
        ax = e @ p["wx"] + p["b"]  # (T, B, 3H)
        hs = np.empty((t_len + 1, b, H), np.float32)
        hp = np.empty((t_len, b, H), np.float32)  # the state each step started from (after reset)
        zs = np.empty((t_len, b, H), np.float32)
        rs = np.empty_like(zs)
        ns = np.empty_like(zs)
        ahn = np.empty_like(zs)
        hs[0] = h0
        uh, bhn = p["uh"], p["bhn"]
        for t in range(t_len):
            h = hs[t] * keep[t]
            hp[t] = h
            ah = h @ uh
            z = _sigmoid(ax[t, :, :H] + ah[:, :H])
            r = _sigmoid(ax[t, :, H : 2 * H] + ah[:, H : 2 * H])
            an = ah[:, 2 * H :] + bhn
            n = np.tanh(ax[t, :, 2 * H :] + r * an)
            zs[t], rs[t], ns[t], ahn[t] = z, r, n, an
            hs[t + 1] = (1.0 - z) * n + z * h
        out = hs[1:].reshape(-1, H)
        logits = out @ p["wo"] + p["bo"]
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        flat_t = tgt.reshape(-1)
        prob[np.arange(flat_t.size), flat_t] -= 1.0
        dlog = prob * (w.reshape(-1, 1) / np.float32(norm))
        g: dict[str, F32] = {
            "wo": out.T @ dlog,
            "bo": dlog.sum(axis=0),
        }
        dout = (dlog @ p["wo"].T).reshape(t_len, b, H)
        dax = np.empty((t_len, b, 3 * H), np.float32)
        dah = np.empty((t_len, b, 3 * H), np.float32)
        dh = np.zeros((b, H), np.float32)
        for t in range(t_len - 1, -1, -1):
            dh = dh + dout[t]
            z, r, n, h = zs[t], rs[t], ns[t], hp[t]
            dn = dh * (1.0 - z)
            dz = dh * (h - n)
            dan = dn * (1.0 - n * n)
            dr = dan * ahn[t]
            dax[t, :, :H] = daz = dz * z * (1.0 - z)
            dax[t, :, H : 2 * H] = dar = dr * r * (1.0 - r)
            dax[t, :, 2 * H :] = dan
            dah[t, :, :H] = daz
            dah[t, :, H : 2 * H] = dar
            dah[t, :, 2 * H :] = dan * r
            dh = (dh * z + dah[t] @ uh.T) * keep[t]
        dax2 = dax.reshape(-1, 3 * H)
        dah2 = dah.reshape(-1, 3 * H)
        g["wx"] = e.reshape(-1, self.dim).T @ dax2
        g["b"] = dax2.sum(axis=0)
        g["uh"] = hp.reshape(-1, H).T @ dah2
        g["bhn"] = dah[:, :, 2 * H :].reshape(-1, H).sum(axis=0)
        demb = np.zeros_like(p["emb"])
        np.add.at(demb, inp.reshape(-1), dax2 @ p["wx"].T)
        g["emb"] = demb
        return g, hs[t_len]

    # --- scoring ---------------------------------------------------------------------------------

    def _require_fitted(self) -> None:
        if self.vocab is None:
            raise RuntimeError("GRUSequenceModel: fit() first")

    def novelties(self, traces: Sequence[npt.ArrayLike], streams: int = 512) -> list[F64]:
        """Per-syscall surprisal ``-ln p(x_t | x_<t)`` (nats) of every trace, all traces at once."""
        with _one_blas_thread():
            return self._novelties(traces, streams)

    def _novelties(self, traces: Sequence[npt.ArrayLike], streams: int) -> list[F64]:
        self._require_fitted()
        idx = self._index(traces)
        segs = _segments(idx, self.context, self._n_out)
        st = _Streams(segs, streams, self._n_out)
        p = self.params
        H = self.hidden
        out = np.zeros((st.n, st.b), np.float32)
        h = np.zeros((st.b, H), np.float32)
        uh, bhn = p["uh"], p["bhn"]
        for lo in range(0, st.n, 64):  # 64 steps at a time bounds the scratch arrays (~25 MB at 512 streams)
            hi = min(st.n, lo + 64)
            ax = p["emb"][st.inp[lo:hi]] @ p["wx"] + p["b"]
            keep = (~st.reset[lo:hi]).astype(np.float32)[..., None]
            hs = np.empty((hi - lo, st.b, H), np.float32)
            for t in range(hi - lo):
                h = h * keep[t]
                ah = h @ uh
                z = _sigmoid(ax[t, :, :H] + ah[:, :H])
                r = _sigmoid(ax[t, :, H : 2 * H] + ah[:, H : 2 * H])
                n = np.tanh(ax[t, :, 2 * H :] + r * (ah[:, 2 * H :] + bhn))
                h = (1.0 - z) * n + z * h
                hs[t] = h
            logits = hs.reshape(-1, H) @ p["wo"] + p["bo"]
            mx = logits.max(axis=1, keepdims=True)
            lse = np.log(np.exp(logits - mx).sum(axis=1)) + mx[:, 0]
            tg = st.tgt[lo:hi].reshape(-1)
            out[lo:hi] = (lse - logits[np.arange(tg.size), tg]).reshape(hi - lo, st.b)
        per = st.per_segment(out)
        res: list[F64] = []
        j = 0
        for tr in idx:
            k = -(-tr.size // self.context)
            res.append(np.concatenate(per[j : j + k]) if k else np.zeros(0))
            j += k
        return res

    def window_novelty(self, trace: npt.ArrayLike) -> F64:
        """One trace's surprisals (its ``context``-call segments are scored side by side)."""
        return self.novelties([trace])[0]

    # --- state -----------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """msgpack-safe state (float32 weights as bytes)."""
        self._require_fitted()
        assert self.vocab is not None
        return {
            "format": _STATE_FORMAT,
            "hidden": self.hidden,
            "dim": self.dim,
            "vocab": self.vocab.astype("<i2").tobytes(),
            "params": {k: [list(a.shape), a.astype("<f4").tobytes()] for k, a in self.params.items()},
            "train": [self.epochs, self.lr, self.bptt, self.streams, self.seed, self.context],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> GRUSequenceModel:
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise ValueError(f"not a {_STATE_FORMAT} state")
        ep, lr, bptt, streams, seed, context = state["train"]
        m = cls(
            int(state["hidden"]),
            int(state["dim"]),
            int(ep),
            float(lr),
            int(bptt),
            int(streams),
            int(seed),
            int(context),
        )
        m.vocab = np.frombuffer(state["vocab"], dtype="<i2").astype(np.int64)
        m.params = {
            k: np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
            for k, (shape, raw) in state["params"].items()
        }
        want = {
            "emb": (m._n_out + 1, m.dim),
            "wx": (m.dim, 3 * m.hidden),
            "uh": (m.hidden, 3 * m.hidden),
            "b": (3 * m.hidden,),
            "bhn": (m.hidden,),
            "wo": (m.hidden, m._n_out),
            "bo": (m._n_out,),
        }
        if {k: a.shape for k, a in m.params.items()} != want:
            raise ValueError("GRU state: weight shapes do not match its vocabulary and sizes")
        return m
