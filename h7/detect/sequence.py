"""Syscall-sequence anomaly models for the L3 channel.

``SequenceModel`` is a variable-order Markov model of syscall streams (n-grams of length 1..6 with
Witten-Bell interpolation).  Each syscall gets a *novelty*: its surprisal (negative log
probability, nats) given the preceding syscalls, averaged over the model orders 1..6 so that a
window which is slightly off at length 6 but ordinary at length 3 counts for less than one that is
unheard-of at every length.  A trace's score is the mean of its ``top_k`` largest novelties:
attacks are short bursts of odd behaviour inside otherwise normal processes, so averaging over the
whole trace (what stide's mismatch rate does) dilutes them, and the single maximum is at the mercy
of one rare-but-legitimate call.

``StideModel`` is the classic baseline (Forrest, Hofmeyr et al.: a database of length-6 windows;
score = fraction of a trace's windows that are not in the database), kept for comparison.

Both are pure numpy.  Windows are encoded exactly as integers (10 bits per syscall, so a
length-6 window fits in a uint64) with shifts over whole arrays, and looked up with
``searchsorted`` in sorted arrays fixed at fit time: the only Python loops run over model orders
and over fixed-size chunks of very long traces, never over syscalls.  See docs/sequence-model.md
for the evaluation against stide.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["SequenceModel", "StideModel"]

#: Bits per syscall in a window code.  Linux syscall numbers are < 1022 on every architecture
#: (x86_64 tops out near 460), so token = nr + 2 maps -1..1021 to 1..1023, and token 0 is the
#: one bucket for anything else.  6 x 10 = 60 bits keeps every window of length <= 6 exact.
_BITS = 10
_ALPHABET = 1 << _BITS
_MAX_ORDER = 64 // _BITS
_SHIFT = np.uint64(_BITS)

#: Syscalls processed per block.  Bounds the scratch memory of fit and score (a dozen arrays of
#: this length) independently of the trace length.
_CHUNK = 1 << 18

_STATE_FORMAT = "h7.sequence/1"
_TINY = float(np.finfo(np.float64).tiny)

ArrayLike = npt.ArrayLike
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def _as_trace(trace: ArrayLike) -> npt.NDArray[np.integer[Any]]:
    """Validate one trace without copying it (blocks are converted one at a time).

    Floats are refused: a float here means a caller bug, not a syscall.
    """
    a = np.asarray(trace)
    if a.ndim != 1:
        raise ValueError(f"a trace must be 1-D, got shape {a.shape}")
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"a trace must hold integer syscall numbers, got dtype {a.dtype}")
    return a


def _tokens(trace: npt.NDArray[np.integer[Any]]) -> U64:
    """Map syscall numbers to 10-bit tokens; out-of-range numbers share token 0."""
    t = trace.astype(np.int64) + 2
    ok = (t >= 1) & (t < _ALPHABET)
    return np.where(ok, t, 0).astype(np.uint64)


def _codes(x: U64, n: int) -> U64:
    """Exact integer code of every length-n window of ``x`` (index = window start)."""
    h = x[: x.size - n + 1].copy()
    for j in range(1, n):
        h <<= _SHIFT
        h |= x[j : x.size - n + 1 + j]
    return h


def _find(keys: U64, q: U64) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Indices of ``q`` in the sorted ``keys`` and whether each was present."""
    if keys.size == 0:
        return np.zeros(q.size, dtype=np.intp), np.zeros(q.size, dtype=bool)
    i = np.searchsorted(keys, q)
    np.minimum(i, keys.size - 1, out=i)
    return i, keys[i] == q


def _gather(vals: I64, i: npt.NDArray[np.intp], hit: npt.NDArray[np.bool_]) -> I64:
    """``vals[i]`` where ``hit``, else 0 (safe on empty tables)."""
    if vals.size == 0:
        return np.zeros(i.size, dtype=np.int64)
    return np.where(hit, vals[i], 0)


def _merge(keys: U64, counts: I64) -> tuple[U64, I64]:
    """Sum the counts of equal keys; returns sorted unique keys."""
    if keys.size == 0:
        return keys, counts
    order = np.argsort(keys, kind="stable")
    ks, cs = keys[order], counts[order]
    starts = np.concatenate(([0], np.flatnonzero(ks[1:] != ks[:-1]) + 1))
    return ks[starts], np.add.reduceat(cs, starts)


class _Counter:
    """Counts of window codes, merged in bounded batches.

    Holding raw codes for a long baseline would grow with its length; merging whenever the
    pending batch exceeds a few chunks keeps memory at O(distinct windows + chunk).  If the
    distinct windows exceed ``cap`` (adversarial or random input) the rarest are dropped, which
    only makes the model more suspicious of them later.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.keys: U64 = np.zeros(0, dtype=np.uint64)
        self.counts: I64 = np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[U64, I64]] = []
        self._pending_n = 0

    def add(self, codes: U64) -> None:
        if codes.size == 0:
            return
        k, c = np.unique(codes, return_counts=True)
        self._pending.append((k, c.astype(np.int64)))
        self._pending_n += k.size
        if self._pending_n > 4 * _CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        ks = np.concatenate([self.keys, *(k for k, _ in self._pending)])
        cs = np.concatenate([self.counts, *(c for _, c in self._pending)])
        self._pending, self._pending_n = [], 0
        self.keys, self.counts = _merge(ks, cs)
        if self.keys.size > self.cap:
            keep = np.sort(np.lexsort((self.keys, -self.counts))[: self.cap])
            self.keys, self.counts = self.keys[keep], self.counts[keep]

    def result(self) -> tuple[U64, I64]:
        self._flush()
        return self.keys, self.counts


def _blocks(
    trace: npt.NDArray[np.integer[Any]], order: int, history: U64 | None = None
) -> Iterator[tuple[U64, int]]:
    """Tokenise ``trace`` block by block, each block carrying ``order - 1`` tokens of left context.

    Yields (block, skip): positions ``< skip`` of the block are context only.  ``history`` (tokens
    supplied by the caller) is the left context of the first block.  Only one block is ever
    materialised, so memory does not grow with the trace.
    """
    ctx = order - 1
    for a in range(0, trace.size, _CHUNK):
        e = max(0, a - ctx)
        block = _tokens(trace[e : a + _CHUNK])
        skip = a - e
        if a == 0 and history is not None and history.size and ctx:
            tail = history[-ctx:]
            block = np.concatenate((tail, block))
            skip = tail.size
        yield block, skip


def _count_windows(traces: Iterable[ArrayLike], order: int, cap: int) -> list[tuple[U64, I64]]:
    counters = [_Counter(cap) for _ in range(order)]
    for trace in traces:
        for block, skip in _blocks(_as_trace(trace), order):
            for n in range(1, order + 1):
                if block.size < n:
                    break
                # Count each window once: by its last position, which must lie past the overlap.
                counters[n - 1].add(_codes(block, n)[max(0, skip - n + 1) :])
    return [c.result() for c in counters]


def _check_order(order: int) -> None:
    if not 1 <= order <= _MAX_ORDER:
        raise ValueError(f"order must be in 1..{_MAX_ORDER} (windows are packed in 64 bits)")


class _Table:
    """Counts of the windows of one length, and what followed each of them.

    ``follow_total``/``follow_types`` (aligned with ``keys``) are how often a window was followed
    by another syscall and by how many different ones: the context statistics of the next longer
    window.  Keeping them here means scoring needs one lookup per order, not two, because the
    context of a length-n window is the length-(n-1) window that ended one position earlier.
    """

    def __init__(self, n: int, keys: U64, counts: I64) -> None:
        self.n = n
        self.keys = keys
        self.counts = counts
        self.follow_total: I64 = np.zeros(keys.size, dtype=np.int64)
        self.follow_types: I64 = np.zeros(keys.size, dtype=np.int64)

    def set_follow(self, longer: _Table) -> None:
        # longer.keys are sorted, so their contexts (the code without its last token) are too.
        ctx = longer.keys >> _SHIFT
        if ctx.size == 0 or self.keys.size == 0:
            return
        starts = np.concatenate(([0], np.flatnonzero(ctx[1:] != ctx[:-1]) + 1))
        total = np.add.reduceat(longer.counts, starts)
        types = np.diff(np.append(starts, ctx.size)).astype(np.int64)
        # A context can be missing here only if the size cap pruned it; it then counts as unseen.
        j, hit = _find(self.keys, ctx[starts])
        self.follow_total[j[hit]] = total[hit]
        self.follow_types[j[hit]] = types[hit]


class SequenceModel:
    """Variable-order Markov model of syscall streams; ``score`` is higher for stranger traces.

    ``order`` is the longest window (6, like stide, so both see the same horizon); ``top_k`` is how
    many of a trace's most surprising positions make up its score (8 measured best on UNM sendmail
    among 3..16, with 5..12 within noise).  ``max_ngrams`` caps the table size per window length.
    """

    def __init__(self, order: int = 6, top_k: int = 8, max_ngrams: int = 1 << 20) -> None:
        _check_order(order)
        if top_k < 1:
            raise ValueError("top_k must be >= 1")
        if max_ngrams < 1:
            raise ValueError("max_ngrams must be >= 1")
        self.order = order
        self.top_k = top_k
        self.max_ngrams = max_ngrams
        self._tables: list[_Table] = []

    # --- learning -------------------------------------------------------------------------------
    def fit(self, traces: Iterable[ArrayLike]) -> SequenceModel:
        """Learn from normal traces (one per process); replaces anything learnt before.

        Raises ``ValueError`` when there is nothing to learn from: an empty model would call every
        syscall an anomaly, and the caller (the baseline) must say so rather than monitor with it.
        """
        counts = _count_windows(traces, self.order, self.max_ngrams)
        if counts[0][0].size == 0:
            raise ValueError("no syscalls to learn from")
        self._set_tables(counts)
        return self

    def _set_tables(self, counts: list[tuple[U64, I64]]) -> None:
        self._tables = [_Table(n + 1, k, c) for n, (k, c) in enumerate(counts)]
        for shorter, longer in zip(self._tables, self._tables[1:], strict=False):
            shorter.set_follow(longer)
        self._total = float(self._tables[0].counts.sum())
        # Order-0 fallback: uniform over the syscalls seen plus one "anything else".
        self._p0 = 1.0 / (self._tables[0].keys.size + 1)

    @property
    def fitted(self) -> bool:
        return bool(self._tables)

    def _require_fitted(self) -> None:
        if not self._tables:
            raise RuntimeError("SequenceModel is not fitted: call fit() or from_state() first")

    # --- scoring --------------------------------------------------------------------------------
    def _block_novelty(self, x: U64, skip: int) -> F64:
        """Novelty of positions ``skip:`` of a block; earlier positions are context only.

        One pass per order n over the whole block: p[t] is refined from the order-(n-1) estimate
        by Witten-Bell interpolation with the count of the length-n window ending at t.
        """
        size = x.size
        uni = self._tables[0]
        i, hit = _find(uni.keys, x)
        c = _gather(uni.counts, i, hit)
        types = float(uni.keys.size)
        p = (c + types * self._p0) / (self._total + types)
        # Product of the per-order probabilities: one log at the end instead of one per order.
        # Underflow would need six factors below ~1e-51 each (contexts seen ~1e51 times); the
        # clamp below only guards that theoretical case.
        prod = p.copy()
        nord = np.ones(size)
        h = x
        prev = uni  # the table the contexts of this order live in
        for t in self._tables[1:]:
            n = t.n
            if size < n:
                break
            # Context of the window ending at position j (>= n-1) = shorter window ending at j-1.
            cx = _gather(prev.follow_total, i[:-1], hit[:-1])
            tx = _gather(prev.follow_types, i[:-1], hit[:-1])
            h = (h[:-1] << _SHIFT) | x[n - 1 :]
            i, hit = _find(t.keys, h)
            cn = _gather(t.counts, i, hit)
            old = p[n - 1 :]
            # Witten-Bell: a context followed by many different syscalls leaves more mass for
            # unseen continuations than one that was always followed by the same syscall.
            new = np.where(cx > 0, (cn + tx * old) / np.maximum(cx + tx, 1), old)
            p[n - 1 :] = new
            prod[n - 1 :] *= new
            nord[n - 1 :] += 1.0
            prev = t
        return -np.log(np.maximum(prod[skip:], _TINY)) / nord[skip:]

    def _novelty_blocks(self, trace: ArrayLike, history: ArrayLike | None) -> Iterator[F64]:
        self._require_fitted()
        hist = None
        if history is not None and self.order > 1:
            hist = _tokens(_as_trace(history)[-(self.order - 1) :])
        for block, skip in _blocks(_as_trace(trace), self.order, hist):
            yield self._block_novelty(block, skip)

    def window_novelty(self, trace: ArrayLike, history: ArrayLike | None = None) -> F64:
        """Novelty (nats) of every syscall of ``trace`` given the up-to-5 syscalls before it.

        Element ``i`` judges the window ending at ``trace[i]``.  For live use, pass the previous
        batch's tail as ``history`` so a window straddling two batches is judged whole; without it
        the first positions are judged on shorter context.  The result has ``len(trace)``
        elements; for unbounded streams call it per batch (memory is O(batch)).
        """
        parts = list(self._novelty_blocks(trace, history))
        return np.concatenate(parts) if parts else np.zeros(0)

    def score(self, trace: ArrayLike) -> float:
        """Mean novelty of the ``top_k`` most surprising positions; 0.0 for an empty trace.

        Streams over fixed-size blocks, so memory stays bounded for arbitrarily long traces.
        """
        best = np.zeros(0)
        for nov in self._novelty_blocks(trace, None):
            cand = np.concatenate((best, nov))
            if cand.size > self.top_k:
                cand = np.partition(cand, cand.size - self.top_k)[cand.size - self.top_k :]
            best = cand
        # Sorted before summing so the result does not depend on partition's internal order.
        return float(np.sort(best).mean()) if best.size else 0.0

    def score_many(self, traces: Iterable[ArrayLike]) -> F64:
        return np.array([self.score(t) for t in traces], dtype=np.float64)

    def top_windows(self, trace: ArrayLike, k: int = 5) -> tuple[npt.NDArray[np.intp], F64]:
        """Positions and novelty of the ``k`` most surprising syscalls, most surprising first.

        This is alert evidence: ``trace[max(0, i - 5) : i + 1]`` is the offending window.
        """
        nov = self.window_novelty(trace)
        if nov.size == 0:
            return np.zeros(0, dtype=np.intp), nov
        idx = np.lexsort((np.arange(nov.size), -nov))[:k]
        return idx.astype(np.intp), nov[idx]

    # --- persistence ----------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """A msgpack-friendly dict (ints, strs, bytes, lists) that ``from_state`` restores exactly."""
        self._require_fitted()
        return {
            "format": _STATE_FORMAT,
            "model": "SequenceModel",
            "order": self.order,
            "top_k": self.top_k,
            "max_ngrams": self.max_ngrams,
            "tables": [
                {"keys": t.keys.astype("<u8").tobytes(), "counts": t.counts.astype("<i8").tobytes()}
                for t in self._tables
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SequenceModel:
        if state.get("format") != _STATE_FORMAT or state.get("model") != "SequenceModel":
            raise ValueError("not a SequenceModel state")
        m = cls(order=int(state["order"]), top_k=int(state["top_k"]), max_ngrams=int(state["max_ngrams"]))
        tables = state["tables"]
        if len(tables) != m.order:
            raise ValueError("SequenceModel state has the wrong number of tables")
        counts = [_decode_table(t) for t in tables]
        if counts[0][0].size == 0:
            raise ValueError("SequenceModel state is empty")
        m._set_tables(counts)
        return m


def _decode_table(t: dict[str, Any]) -> tuple[U64, I64]:
    keys = np.frombuffer(t["keys"], dtype="<u8").astype(np.uint64)
    counts = np.frombuffer(t["counts"], dtype="<i8").astype(np.int64)
    if keys.size != counts.size or (keys.size > 1 and not bool(np.all(keys[1:] > keys[:-1]))):
        raise ValueError("corrupt sequence table")
    return keys, counts


class StideModel:
    """Stide: the set of length-``window`` windows seen in training; score = mismatch rate.

    A trace shorter than the window has no window to compare and scores 0.0, as in the original.
    """

    def __init__(self, window: int = 6) -> None:
        _check_order(window)
        self.window = window
        self._db: U64 | None = None

    def fit(self, traces: Iterable[ArrayLike]) -> StideModel:
        counter = _Counter(cap=np.iinfo(np.int64).max)
        for trace in traces:
            for block, skip in _blocks(_as_trace(trace), self.window):
                if block.size >= self.window:
                    counter.add(_codes(block, self.window)[max(0, skip - self.window + 1) :])
        self._db = counter.result()[0]
        return self

    def mismatches(self, trace: ArrayLike) -> npt.NDArray[np.bool_]:
        """One flag per window (index = window start): True if the window was never seen."""
        if self._db is None:
            raise RuntimeError("StideModel is not fitted")
        x = _as_trace(trace)
        if x.size < self.window:
            return np.zeros(0, dtype=bool)
        parts = []
        for block, skip in _blocks(x, self.window):
            if block.size >= self.window:
                codes = _codes(block, self.window)[max(0, skip - self.window + 1) :]
                parts.append(~_find(self._db, codes)[1])
        return np.concatenate(parts)

    def score(self, trace: ArrayLike) -> float:
        m = self.mismatches(trace)
        return float(m.mean()) if m.size else 0.0

    def score_many(self, traces: Iterable[ArrayLike]) -> F64:
        return np.array([self.score(t) for t in traces], dtype=np.float64)

    def to_state(self) -> dict[str, Any]:
        if self._db is None:
            raise RuntimeError("StideModel is not fitted")
        return {
            "format": _STATE_FORMAT,
            "model": "StideModel",
            "window": self.window,
            "db": self._db.astype("<u8").tobytes(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> StideModel:
        if state.get("format") != _STATE_FORMAT or state.get("model") != "StideModel":
            raise ValueError("not a StideModel state")
        m = cls(window=int(state["window"]))
        m._db = np.frombuffer(state["db"], dtype="<u8").astype(np.uint64)
        return m
