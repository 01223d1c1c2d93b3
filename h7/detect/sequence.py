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

Everything is computed from *window codes* (``window_codes``): a thread's last six syscall
tokens packed in 60 bits, which is what the kernel program keeps per thread and ships with each
record.  Because fitting (``fit_codes``) and scoring (``code_novelty``) need nothing but the code
of a position, the kernel can stop shipping syscalls whose window is already known without
userspace losing anything, and a long baseline is held as a few thousand distinct codes with
counts instead of millions of syscalls.  ``fit``/``score`` on plain traces go through the same
two functions, so there is one definition of the model, and it is the kernel's.

Both models are pure numpy: shifts over whole arrays and ``searchsorted`` in sorted arrays fixed
at fit time.  The only Python loops run over model orders and over fixed-size chunks of long
inputs, never over syscalls.  See docs/sequence-model.md for the evaluation against stide.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from h7.decode import TOKEN_BITS, TOKEN_OTHER, WINDOW_LEN

__all__ = [
    "TOKEN_BITS",
    "WINDOW_LEN",
    "WINDOW_MASK",
    "SequenceModel",
    "StideModel",
    "code_depth",
    "in_sorted",
    "window_codes",
]

# TOKEN_BITS, TOKEN_OTHER and WINDOW_LEN are the kernel's (bpf/h7.h, mirrored in h7.decode and
# checked there).  Linux syscall numbers are far below 1021 on every architecture (x86_64 tops
# out near 460), so token = nr + 2 maps -1..1020 to 1..1022; TOKEN_OTHER (1023) is the one bucket
# for anything else and 0 means "no syscall" (before a thread's first).  6 x 10 bits fit a uint64.
WINDOW_MASK = (1 << (TOKEN_BITS * WINDOW_LEN)) - 1

_OTHER = TOKEN_OTHER
_MAX_NR = _OTHER - 3
_SHIFT = np.uint64(TOKEN_BITS)
_TOKEN_MASK = np.uint64(_OTHER)
#: _MASKS[n] keeps the last n tokens of a code: the n-gram ending at its position.
_MASKS = [np.uint64((1 << (TOKEN_BITS * n)) - 1) for n in range(WINDOW_LEN + 1)]
#: _SLOTS[j] selects token j (0 = the position's own syscall, j = j calls earlier).
_SLOTS = [np.uint64(_OTHER << (TOKEN_BITS * j)) for j in range(WINDOW_LEN)]

#: Syscalls (or codes) processed per chunk.  Bounds the scratch memory of fit and score (a dozen
#: arrays of this length) independently of the input length.
_CHUNK = 1 << 18

#: /2: out-of-range syscall numbers moved from token 0 to token 1023 (0 now means "no syscall").
_STATE_FORMAT = "h7.sequence/2"
_OLD_FORMATS = ("h7.sequence/1",)
_TINY = float(np.finfo(np.float64).tiny)
#: How a position's novelty is read from the per-order probabilities: "mix" averages the
#: surprisal over orders 1..depth, "last" takes the highest order's (interpolated) surprisal.
NOVELTIES = ("mix", "last")
#: How counts become probabilities: "wb" Witten-Bell interpolation over the windows a thread has
#: (a thread's first five syscalls have shorter windows), "kn" interpolated modified Kneser-Ney
#: over windows padded with "no syscall" (token 0) at a thread's start.
SMOOTHINGS = ("wb", "kn")

ArrayLike = npt.ArrayLike
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def _int_1d(x: ArrayLike, what: str, empty: type[np.integer[Any]]) -> npt.NDArray[np.integer[Any]]:
    """A 1-D integer array, not copied; floats are refused (a float here is a caller bug)."""
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {a.shape}")
    if a.size == 0:
        return np.zeros(0, dtype=empty)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{what} must hold integers, got dtype {a.dtype}")
    return a


def _as_trace(trace: ArrayLike) -> npt.NDArray[np.integer[Any]]:
    """Validate one trace of syscall numbers without copying it (chunks are converted one at a time)."""
    return _int_1d(trace, "a trace", np.int64)


def _as_codes(codes: ArrayLike) -> U64:
    """Validate window codes; anything outside 60 bits cannot have come from the kernel."""
    a = _int_1d(codes, "window codes", np.uint64)
    if a.size == 0:
        return a.astype(np.uint64, copy=False)
    if a.dtype.kind == "i" and bool((a < 0).any()):
        raise ValueError("window codes are unsigned")
    u = a.astype(np.uint64, copy=False)
    if int(u.max()) > WINDOW_MASK:
        raise ValueError("window codes have 60 bits")
    return u


def _as_history_code(history: int) -> int:
    h = operator.index(history)  # a float here would be a caller bug, as in a trace
    if not 0 <= h <= WINDOW_MASK:
        raise ValueError("a history code must be in 0..WINDOW_MASK")
    return h


def _tokens(trace: npt.NDArray[np.integer[Any]]) -> U64:
    """10-bit token of each syscall number, as the kernel computes it.

    Unsigned input is clamped before the cast to int64, so a huge value cannot wrap into range.
    """
    if trace.dtype.kind == "u":
        x = np.minimum(trace, np.uint64(_OTHER)).astype(np.int64)
    else:
        x = trace.astype(np.int64, copy=False)
    # -1..1020 become 0..1021; everything else, including int64's maximum, wraps above that.
    u = (x + 1).view(np.uint64)
    return np.where(u <= np.uint64(_MAX_NR + 1), u + np.uint64(1), np.uint64(_OTHER))


def _chunk_codes(tok: U64, prev: int) -> U64:
    """Window codes of consecutive tokens whose predecessor position had code ``prev``.

    Built oldest token first, five shift-ors over the whole chunk: the same value as the kernel's
    per-syscall ``(w << 10 | tok) & mask``, without a loop over syscalls.
    """
    m = tok.size
    ctx = WINDOW_LEN - 1
    ext = np.empty(m + ctx, dtype=np.uint64)
    for k in range(ctx):
        ext[k] = (prev >> (TOKEN_BITS * (ctx - 1 - k))) & _OTHER
    ext[ctx:] = tok
    out = ext[:m].copy()
    for j in range(1, WINDOW_LEN):
        out <<= _SHIFT
        out |= ext[j : j + m]
    return out


def _iter_codes(trace: npt.NDArray[np.integer[Any]], history: int) -> Iterator[U64]:
    """Window codes of ``trace`` chunk by chunk, so callers that reduce them never hold all of them."""
    prev = history
    for a in range(0, trace.size, _CHUNK):
        codes = _chunk_codes(_tokens(trace[a : a + _CHUNK]), prev)
        prev = int(codes[-1])
        yield codes


def window_codes(trace: ArrayLike, history: int = 0) -> U64:
    """The kernel's window code at every position of one thread's ``trace``.

    ``history`` is the code of the position just before ``trace[0]`` (0 = the thread starts
    here), so a thread's stream can be coded batch by batch: pass the previous batch's last code.
    """
    x = _as_trace(trace)
    out = np.empty(x.size, dtype=np.uint64)
    a = 0
    for codes in _iter_codes(x, _as_history_code(history)):
        out[a : a + codes.size] = codes
        a += codes.size
    return out


def _depth(codes: U64) -> I64:
    depth = np.zeros(codes.size, dtype=np.int64)
    alive = np.ones(codes.size, dtype=bool)
    for slot in _SLOTS:
        alive &= (codes & slot) != 0
        depth += alive
    return depth


def code_depth(codes: ArrayLike) -> I64:
    """How many syscalls each code holds (1..6; 0 is not a syscall).

    The order of the longest n-gram a code can stand for: only the first five syscalls of a thread
    have codes of depth < 6.
    """
    return _depth(_as_codes(codes))


def _as_code_counts(codes: ArrayLike, counts: ArrayLike) -> tuple[U64, I64]:
    c = _as_codes(codes)
    k = np.asarray(counts)
    if k.shape != c.shape:
        raise ValueError(f"{c.size} window codes but counts of shape {k.shape}")
    if k.size and k.dtype.kind not in "iu":
        raise TypeError(f"counts must be integers, got dtype {k.dtype}")
    k = k.astype(np.int64)
    if k.size and int(k.min()) < 0:
        raise ValueError("counts must be >= 0")
    # A zero count must not become a table key: keys are "seen", and their number is T(context).
    if k.size and not bool(k.all()):
        keep = k > 0
        c, k = c[keep], k[keep]
    return c, k


def _trace_code_counts(traces: Iterable[ArrayLike]) -> Iterator[tuple[U64, I64]]:
    """(distinct codes, counts) per chunk of each trace: what a baseline would collect."""
    for trace in traces:
        for codes in _iter_codes(_as_trace(trace), 0):
            k, c = np.unique(codes, return_counts=True)
            yield k, c.astype(np.int64)


def _find(keys: U64, q: U64) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Indices of ``q`` in the sorted ``keys`` and whether each was present."""
    if keys.size == 0:
        return np.zeros(q.size, dtype=np.intp), np.zeros(q.size, dtype=bool)
    i = np.searchsorted(keys, q)
    np.minimum(i, keys.size - 1, out=i)
    return i, keys[i] == q


def in_sorted(keys: U64, q: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Which of ``q`` are in the sorted ``keys`` (a binary search each, unlike ``np.isin``'s sort)."""
    return _find(keys, np.asarray(q, dtype=np.uint64))[1]


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

    def add(self, keys: U64, counts: I64) -> None:
        if keys.size == 0:
            return
        self._pending.append((keys, counts))
        self._pending_n += keys.size
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


def _check_order(order: int) -> None:
    if not 1 <= order <= WINDOW_LEN:
        raise ValueError(f"order must be in 1..{WINDOW_LEN} (the kernel's window holds {WINDOW_LEN} calls)")


def _check_state(state: dict[str, Any], model: str) -> None:
    fmt = state.get("format")
    if fmt in _OLD_FORMATS and state.get("model") == model:
        raise ValueError(
            f"{model} state {fmt} predates the kernel's token for out-of-range syscalls: "
            "learn the baseline again"
        )
    if fmt != _STATE_FORMAT or state.get("model") != model:
        raise ValueError(f"not a {model} state")


def _context_groups(keys: U64) -> tuple[U64, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Sorted window keys cut by context (a key without its last token): contexts, group starts, sizes.

    Why one function: both count tables (``_Table`` and Kneser-Ney's) lay out a context's
    windows as one group behind a marker entry, and must cut the groups the same way.
    """
    ctx = keys >> _SHIFT
    if ctx.size:
        starts = np.concatenate(([0], np.flatnonzero(ctx[1:] != ctx[:-1]) + 1))
    else:
        starts = np.zeros(0, dtype=np.intp)
    return ctx, starts, np.diff(np.append(starts, ctx.size))


class _Table:
    """Counts of the windows of one length n, laid out so that one lookup answers both questions.

    Scoring the n-gram ending at a position needs its count and the statistics of its context
    (its first n-1 syscalls): how often that context was followed by anything, and by how many
    different syscalls.  Windows sharing a context are adjacent in sorted order (the context is
    the high bits), so each context group is preceded by a marker entry ``context << 10`` (token
    0, which no real window ends with) carrying the group's statistics, as does every member.
    The last entry <= a query is then the query itself or another entry of its group whenever
    the group exists: one ``searchsorted`` per code and order, whether or not the window itself
    was ever seen.  Entry 0 is key 0 with nothing, so that entry always exists.
    """

    def __init__(self, n: int, keys: U64, counts: I64, shorter: _Table | None) -> None:
        self.n = n
        if shorter is None:  # order 1 has no context (and is scored from a dense array)
            self._ek, self._ec = keys, counts
            self._et = np.zeros(keys.size, dtype=np.int64)
            self._ey = np.zeros(keys.size, dtype=np.int16)
            return
        ctx, starts, sizes = _context_groups(keys)
        total = np.add.reduceat(counts, starts) if ctx.size else np.zeros(0, dtype=np.int64)
        types = sizes.astype(np.int64)
        # A context can be missing from the shorter table only if the size cap pruned it; it then
        # counts as unseen, as it would have if its continuations had been pruned too.
        known = _find(shorter.keys, ctx[starts])[1]
        total = np.where(known, total, 0)
        types = np.where(known, types, 0)
        groups = np.arange(starts.size)
        grp = np.repeat(groups, sizes)
        kpos = np.arange(keys.size) + grp + 2
        mpos = starts + groups + 1
        size = keys.size + starts.size + 1
        self._ek = np.zeros(size, dtype=np.uint64)
        self._ec = np.zeros(size, dtype=np.int64)
        self._et = np.zeros(size, dtype=np.int64)
        # Distinct continuations of one context are at most the 1023 tokens: int16 is plenty.
        self._ey = np.zeros(size, dtype=np.int16)
        self._ek[kpos], self._ek[mpos] = keys, ctx[starts] << _SHIFT
        self._ec[kpos] = counts
        self._et[kpos], self._et[mpos] = total[grp], total
        self._ey[kpos], self._ey[mpos] = types[grp], types

    @property
    def _real(self) -> npt.NDArray[np.bool_]:
        return (self._ek & _TOKEN_MASK) != 0

    @property
    def keys(self) -> U64:
        """The distinct windows seen (sorted), without the markers."""
        return self._ek[self._real]

    @property
    def counts(self) -> I64:
        return self._ec[self._real]

    def refine(self, q: U64, p: F64) -> F64:
        """Witten-Bell step from the order-(n-1) probabilities ``p`` to order n for n-grams ``q``.

        A context followed by many different syscalls leaves more mass for unseen continuations
        than one that was always followed by the same syscall; an unseen context keeps ``p``.
        """
        i = np.searchsorted(self._ek, q, side="right")
        i -= 1
        d = self._ek[i]
        d ^= q
        cn = np.where(d == 0, self._ec[i], 0)
        cx = np.where(d <= _TOKEN_MASK, self._et[i], 0)  # same high bits: the query's context group
        tx = self._ey[i]  # only used where cx > 0, i.e. where it is the group's
        return np.where(cx > 0, (cn + tx * p) / np.maximum(cx + tx, 1), p)


_DEPTH_MASKS = np.array(_MASKS, dtype=np.uint64)


def _canonical(codes: U64, depth: I64) -> U64:
    """Codes cut to their depth: tokens above the first "no syscall" are not part of the window.

    The kernel never makes such codes (its zeros are a thread's start, on top); a hand-made one
    must not read as a padded window followed by more calls.
    """
    return codes & _DEPTH_MASKS[depth]


def _kn_discounts(counts: I64) -> F64:
    """Modified Kneser-Ney discounts D(1), D(2), D(3+) from one order's count-of-counts.

    Chen & Goodman's estimates: no tuning constant, as Witten-Bell needs none.  Clamped into
    (0, c) so a degenerate table (every count 1, say) still leaves mass for what was not seen.
    """
    n = [float(np.count_nonzero(counts == j)) for j in (1, 2, 3, 4)]
    y = n[0] / (n[0] + 2.0 * n[1]) if n[0] + n[1] > 0 else 0.5
    d = np.zeros(4)
    for j in (1, 2, 3):
        est = j - (j + 1) * y * n[j] / n[j - 1] if n[j - 1] > 0 else 0.5 * j
        d[j] = min(max(est, 0.05), j - 0.05)
    return d


class _KNTable:
    """One order's Kneser-Ney counts in ``_Table``'s layout (context markers, one lookup).

    Every entry carries the discounted count ``max(c - D(c), 0)`` of its window (0 for a
    marker), its context's total count and the mass the discounts freed in that context
    (``sum D(c)`` over the context's windows): ``p = (c* + freed * p_lower) / total``.
    """

    def __init__(self, n: int, keys: U64, counts: I64) -> None:
        self.n = n
        self.keys, self.counts = keys, counts
        disc = _kn_discounts(counts)
        dk = disc[np.minimum(counts, 3)]
        ctx, starts, sizes = _context_groups(keys)
        total = np.add.reduceat(counts, starts).astype(np.float64) if ctx.size else np.zeros(0)
        freed = np.add.reduceat(dk, starts) if ctx.size else np.zeros(0)
        groups = np.arange(starts.size)
        grp = np.repeat(groups, sizes)
        kpos = np.arange(keys.size) + grp + 1
        mpos = starts + groups
        size = keys.size + starts.size
        self._ek = np.zeros(size, dtype=np.uint64)
        self._en = np.zeros(size, dtype=np.float64)
        self._et = np.zeros(size, dtype=np.float64)
        self._ef = np.zeros(size, dtype=np.float64)
        self._ek[kpos], self._ek[mpos] = keys, ctx[starts] << _SHIFT
        self._en[kpos] = np.maximum(counts - dk, 0.0)
        self._et[kpos], self._et[mpos] = total[grp], total
        self._ef[kpos], self._ef[mpos] = freed[grp], freed

    def refine(self, q: U64, p: F64) -> F64:
        """Kneser-Ney step from the order-(n-1) probabilities ``p`` to order n for n-grams ``q``.

        An unseen context keeps ``p``.  Keys at or above the query's context marker exist for
        every query whose context was seen (the marker is the smallest key of its group).
        """
        if self._ek.size == 0:
            return p
        i = np.searchsorted(self._ek, q, side="right")
        i -= 1
        np.maximum(i, 0, out=i)
        d = self._ek[i]
        d ^= q
        num = np.where(d == 0, self._en[i], 0.0)
        same = (d <= _TOKEN_MASK) & (self._ek[i] <= q)
        tot = np.where(same, self._et[i], 0.0)
        return np.where(tot > 0, (num + self._ef[i] * p) / np.maximum(tot, 1.0), p)


def _kn_orders(keys: U64, counts: I64, order: int) -> list[tuple[U64, I64]]:
    """Per order 1..``order``: (n-grams, Kneser-Ney counts) from the top order's raw counts.

    Below the top order a window's count is its number of distinct one-call-longer extensions
    to the left (how many contexts it continues), except for a window that starts at a thread's
    start (token 0 on top), which cannot be extended and keeps its raw count.
    """
    out: list[tuple[U64, I64]] = [(keys, counts)]
    for n in range(order - 1, 0, -1):
        hk, hc = out[0]
        top = (hk >> np.uint64(TOKEN_BITS * n)) & _TOKEN_MASK
        w = np.where(top == 0, hc, 1)
        out.insert(0, _merge(hk & _MASKS[n], w.astype(np.int64)))
    return out


class SequenceModel:
    """Variable-order Markov model of syscall streams; ``score`` is higher for stranger traces.

    ``order`` is the longest window (6, like stide, so both see the same horizon); ``top_k`` is how
    many of a trace's most surprising positions make up its score (8 measured best on UNM sendmail
    among 3..16, with 5..12 within noise).  ``max_ngrams`` caps the table size per window length.
    """

    def __init__(
        self,
        order: int = 6,
        top_k: int = 8,
        max_ngrams: int = 1 << 20,
        top_frac: float = 0.0,
        novelty: str = "mix",
        smoothing: str = "wb",
    ) -> None:
        _check_order(order)
        if top_k < 1:
            raise ValueError("top_k must be >= 1")
        if max_ngrams < 1:
            raise ValueError("max_ngrams must be >= 1")
        if not 0.0 <= top_frac <= 1.0:
            raise ValueError("top_frac must be in [0, 1]")
        if novelty not in NOVELTIES:
            raise ValueError(f"novelty must be one of {NOVELTIES}, not {novelty!r}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing must be one of {SMOOTHINGS}, not {smoothing!r}")
        self.novelty = novelty
        self.smoothing = smoothing
        self.order = order
        self.top_k = top_k
        self.top_frac = float(top_frac)
        self.max_ngrams = max_ngrams
        self._tables: list[_Table] = []
        self._kn: list[_KNTable] = []
        self._p1: F64 = np.zeros(0)

    # --- learning -------------------------------------------------------------------------------
    def fit(self, traces: Iterable[ArrayLike]) -> SequenceModel:
        """Learn from normal traces (one per thread); replaces anything learnt before.

        Raises ``ValueError`` when there is nothing to learn from: an empty model would call every
        syscall an anomaly, and the caller (the baseline) must say so rather than monitor with it.
        """
        return self.fit_codes(_trace_code_counts(traces))

    def fit_codes(self, pairs: Iterable[tuple[ArrayLike, ArrayLike]]) -> SequenceModel:
        """Learn from window codes with multiplicities; replaces anything learnt before.

        Each pair is (codes, counts) of equal length; codes may repeat (their counts add up), so
        a baseline can keep ``np.unique(codes, return_counts=True)`` per batch rather than every
        syscall.  The result is the model ``fit`` learns from the traces those codes came from
        (unless ``max_ngrams`` prunes, which depends on the order the counts arrive in).
        """
        if self.smoothing == "kn":
            # Only the top order is counted: the lower orders' Kneser-Ney counts derive from it.
            top = _Counter(self.max_ngrams)
            for codes, counts in pairs:
                c_all, k_all = _as_code_counts(codes, counts)
                depth = _depth(c_all)
                keep = depth > 0  # no syscall at this position: nothing to learn (as Witten-Bell)
                top.add(_canonical(c_all[keep], depth[keep]) & _MASKS[self.order], k_all[keep])
            keys, counts_n = top.result()
            if keys.size == 0:
                raise ValueError("no syscalls to learn from")
            self._set_kn(keys, counts_n)
            return self
        counters = [_Counter(self.max_ngrams) for _ in range(self.order)]
        for codes, counts in pairs:
            c_all, k_all = _as_code_counts(codes, counts)
            for a in range(0, c_all.size, _CHUNK):
                c, k = c_all[a : a + _CHUNK], k_all[a : a + _CHUNK]
                depth = _depth(c)
                for n in range(1, self.order + 1):
                    # The n-gram ending at a position exists only once n syscalls have happened.
                    sel = depth >= n
                    if not sel.any():
                        break
                    if not sel.all():
                        c, k, depth = c[sel], k[sel], depth[sel]
                    counters[n - 1].add(c & _MASKS[n], k)
        counts_by_n = [ctr.result() for ctr in counters]
        if counts_by_n[0][0].size == 0:
            raise ValueError("no syscalls to learn from")
        self._set_tables(counts_by_n)
        return self

    def _set_tables(self, counts: list[tuple[U64, I64]]) -> None:
        tables: list[_Table] = []
        for n, (k, c) in enumerate(counts, start=1):
            tables.append(_Table(n, k, c, tables[-1] if tables else None))
        self._tables = tables
        self._kn = []
        uni = self._tables[0]
        # Order 1 for every possible token at once (1024 entries), so scoring indexes instead of
        # searching.  Order-0 fallback: uniform over the syscalls seen plus one "anything else".
        c = np.zeros(_OTHER + 1, dtype=np.int64)
        c[uni.keys.astype(np.intp)] = uni.counts
        types = float(uni.keys.size)
        p0 = 1.0 / (uni.keys.size + 1)
        self._p1 = np.asarray((c + types * p0) / (float(uni.counts.sum()) + types), dtype=np.float64)

    def _set_kn(self, keys: U64, counts: I64) -> None:
        orders = _kn_orders(keys, counts, self.order)
        self._kn = [_KNTable(n, k, c) for n, (k, c) in enumerate(orders, start=1)]
        self._tables = []
        # Order-0 fallback, as for Witten-Bell: uniform over the syscalls seen plus "anything else".
        self._p0 = 1.0 / (self._kn[0].keys.size + 1)

    def nbytes(self) -> int:
        """Bytes held by the fitted tables (what the model adds to the sensor's memory)."""
        arrays: list[npt.NDArray[Any]] = [self._p1]
        for t in self._tables:
            arrays += [t._ek, t._ec, t._et, t._ey]
        for k in self._kn:
            arrays += [k._ek, k._en, k._et, k._ef, k.keys, k.counts]
        return int(sum(a.nbytes for a in arrays))

    def _require_fitted(self) -> None:
        if not self._tables and not self._kn:
            raise RuntimeError("SequenceModel is not fitted: call fit() or from_state() first")

    # --- scoring --------------------------------------------------------------------------------
    def _novelty(self, codes: U64) -> F64:
        """Novelty of each code: one ``refine`` per order n, for the n-gram ``code & mask_n``.

        Orders past a code's depth do not exist for it: they neither refine p nor count in the
        mean.
        """
        depth = _depth(codes)
        if codes.size and int(depth.min()) == 0:
            raise ValueError("a window code with no syscall in its lowest token (depth 0)")
        if self._kn:
            return self._kn_novelty(_canonical(codes, depth))
        p = np.take(self._p1, (codes & _TOKEN_MASK).astype(np.intp))
        # Product of the per-order probabilities: one log at the end instead of one per order.
        # Underflow would need six factors below ~1e-51 each (contexts seen ~1e51 times); the
        # clamp below only guards that theoretical case.
        prod = p.copy()
        for t in self._tables[1:]:
            act = depth >= t.n
            if not act.any():
                break
            new = t.refine(codes & _MASKS[t.n], p)
            if act.all():  # the usual case: every position but a thread's first five
                p = new
                prod *= new
            else:
                p = np.where(act, new, p)
                prod *= np.where(act, new, 1.0)
        if self.novelty == "last":
            return -np.log(np.maximum(p, _TINY))
        return -np.log(np.maximum(prod, _TINY)) / np.minimum(depth, self.order)

    def _kn_novelty(self, codes: U64) -> F64:
        """Kneser-Ney novelty: every order exists for every code (a thread's start is padding)."""
        p = np.full(codes.size, self._p0)
        logsum = np.zeros(codes.size)
        for t in self._kn:
            p = t.refine(codes & _MASKS[t.n], p)
            if self.novelty == "mix":
                logsum -= np.log(np.maximum(p, _TINY))
        if self.novelty == "last":
            return -np.log(np.maximum(p, _TINY))
        return logsum / self.order

    def code_novelty(self, codes: ArrayLike) -> F64:
        """Novelty (nats) of the syscall at each position, given only that position's window code.

        This is what ``window_novelty`` computes for a trace, for codes shipped by the kernel out
        of order or with gaps: a code carries all the context the model uses.  Depth-0 codes (no
        syscall) are refused.  Memory is O(len(codes)) for the result plus one chunk of scratch.
        """
        self._require_fitted()
        c = _as_codes(codes)
        out = np.empty(c.size, dtype=np.float64)
        for a in range(0, c.size, _CHUNK):
            out[a : a + _CHUNK] = self._novelty(c[a : a + _CHUNK])
        return out

    def _novelty_chunks(self, trace: ArrayLike, history: ArrayLike | None) -> Iterator[F64]:
        self._require_fitted()
        x = _as_trace(trace)
        h = 0
        if history is not None:
            tail = _as_trace(history)[-(WINDOW_LEN - 1) :]
            if tail.size:
                h = int(window_codes(tail)[-1])
        for codes in _iter_codes(x, h):
            yield self._novelty(codes)

    def window_novelty(self, trace: ArrayLike, history: ArrayLike | None = None) -> F64:
        """Novelty (nats) of every syscall of ``trace`` given the up-to-5 syscalls before it.

        Element ``i`` judges the window ending at ``trace[i]``.  For live use, pass the previous
        batch's tail as ``history`` so a window straddling two batches is judged whole; without it
        the first positions are judged on shorter context.  The result has ``len(trace)``
        elements; for unbounded streams call it per batch (memory is O(batch)).
        """
        parts = list(self._novelty_chunks(trace, history))
        return np.concatenate(parts) if parts else np.zeros(0)

    def scored_count(self, n: int) -> int:
        """How many of ``n`` positions make up a score: the ``max(top_k, ceil(top_frac * n))`` worst.

        ``top_frac = 0`` is a fixed top-k (a burst keeps its weight however long the trace);
        ``top_frac = 1`` is the whole-trace mean.  Never more than ``n``.
        """
        return min(n, max(self.top_k, math.ceil(self.top_frac * n - 1e-9)))

    def score(self, trace: ArrayLike) -> float:
        """Mean novelty of the ``scored_count(len(trace))`` most surprising positions; 0.0 if empty.

        With ``top_frac = 0`` this streams over fixed-size chunks keeping a running top-k, so memory
        stays bounded for arbitrarily long traces; with ``top_frac > 0`` the count depends on the
        length, and the novelties of the whole trace are held (8 bytes a syscall).
        """
        if self.top_frac > 0.0:
            nov = self.window_novelty(trace)
            if nov.size == 0:
                return 0.0
            m = self.scored_count(nov.size)
            return float(np.sort(np.partition(nov, nov.size - m)[nov.size - m :]).mean())
        best = np.zeros(0)
        for nov in self._novelty_chunks(trace, None):
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
            "top_frac": self.top_frac,
            "novelty": self.novelty,
            "max_ngrams": self.max_ngrams,
            **self._tables_state(),
        }

    def _tables_state(self) -> dict[str, Any]:
        if self._kn:
            # Kneser-Ney keeps the top order's raw counts only; the rest is derived on load.
            top = self._kn[-1]
            table = {"keys": top.keys.astype("<u8").tobytes(), "counts": top.counts.astype("<i8").tobytes()}
            return {"smoothing": "kn", "tables": [table]}
        return {
            "tables": [
                {"keys": t.keys.astype("<u8").tobytes(), "counts": t.counts.astype("<i8").tobytes()}
                for t in self._tables
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SequenceModel:
        _check_state(state, "SequenceModel")
        m = cls(
            order=int(state["order"]),
            top_k=int(state["top_k"]),
            max_ngrams=int(state["max_ngrams"]),
            # States saved before top_frac existed scored a fixed top-k.
            top_frac=float(state.get("top_frac", 0.0)),
            novelty=str(state.get("novelty", "mix")),
            # States saved before Kneser-Ney existed are Witten-Bell.
            smoothing=str(state.get("smoothing", "wb")),
        )
        tables = state["tables"]
        if m.smoothing == "kn":
            if len(tables) != 1:
                raise ValueError("SequenceModel state has the wrong number of tables")
            # Kneser-Ney windows are padded at a thread's start: at least one syscall each.
            top_keys, top_counts = _decode_table(tables[0], m.order, min_depth=1)
            if top_keys.size == 0:
                raise ValueError("SequenceModel state is empty")
            if int(top_counts.min()) < 1:
                raise ValueError("corrupt sequence table: counts must be >= 1")
            m._set_kn(top_keys, top_counts)
            return m
        if len(tables) != m.order:
            raise ValueError("SequenceModel state has the wrong number of tables")
        counts = [_decode_table(t, n + 1) for n, t in enumerate(tables)]
        if counts[0][0].size == 0:
            raise ValueError("SequenceModel state is empty")
        m._set_tables(counts)
        return m


def _decode_table(t: dict[str, Any], n: int, min_depth: int | None = None) -> tuple[U64, I64]:
    keys = np.frombuffer(t["keys"], dtype="<u8").astype(np.uint64)
    counts = np.frombuffer(t["counts"], dtype="<i8").astype(np.int64)
    if keys.size != counts.size or (keys.size > 1 and not bool(np.all(keys[1:] > keys[:-1]))):
        raise ValueError("corrupt sequence table")
    if keys.size and (int(keys[-1]) > int(_MASKS[n]) or int(_depth(keys).min()) < (min_depth or n)):
        raise ValueError(f"corrupt sequence table: keys that are not {n} syscalls")
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
        counter = _Counter(cap=int(np.iinfo(np.int64).max))
        for codes, counts in _trace_code_counts(traces):
            full = _depth(codes) >= self.window
            counter.add(codes[full] & _MASKS[self.window], counts[full])
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
        for a, codes in zip(range(0, x.size, _CHUNK), _iter_codes(x, 0), strict=True):
            # From the thread's start, the codes of complete windows are those from window - 1 on.
            full = codes[max(0, self.window - 1 - a) :]
            parts.append(~_find(self._db, full & _MASKS[self.window])[1])
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
        _check_state(state, "StideModel")
        m = cls(window=int(state["window"]))
        m._db = np.frombuffer(state["db"], dtype="<u8").astype(np.uint64)
        return m


class SyscallSetModel:
    """Offline scorer: how far a trace's *set* of syscalls is from the nearest training trace's.

    Score = 1 - max over training traces of the Jaccard similarity of the two sets of distinct
    syscall tokens (order and counts ignored).  It sees what a window model cannot: a process
    whose whole repertoire is unlike any normal process (ADFA-LD's attack traces), even when
    each of its windows is individually plausible.  It needs whole traces of one process and
    the training traces themselves (one 1024-bit set per distinct training set), so it is an
    offline mode, not something L3 computes from window codes (docs/sequence-model.md).
    """

    def __init__(self) -> None:
        self._sets: npt.NDArray[np.float32] | None = None

    @staticmethod
    def _set_rows(traces: Iterable[ArrayLike]) -> npt.NDArray[np.bool_]:
        rows = []
        for t in traces:
            r = np.zeros(_OTHER + 1, dtype=bool)
            x = _as_trace(t)
            if x.size:
                r[_tokens(x).astype(np.intp)] = True
            rows.append(r)
        return np.array(rows, dtype=bool).reshape(len(rows), _OTHER + 1)

    def fit(self, traces: Iterable[ArrayLike]) -> SyscallSetModel:
        rows = self._set_rows(traces)
        rows = rows[rows.any(axis=1)]
        if rows.shape[0] == 0:
            raise ValueError("no syscalls to learn from")
        self._sets = np.unique(rows, axis=0).astype(np.float32)
        return self

    def score_many(self, traces: Iterable[ArrayLike]) -> F64:
        if self._sets is None:
            raise RuntimeError("SyscallSetModel is not fitted")
        x = self._set_rows(traces).astype(np.float32)
        out = np.zeros(x.shape[0])
        t_size = self._sets.sum(axis=1)
        for a in range(0, x.shape[0], 1024):  # bounded scratch: 1024 x n_sets floats
            xa = x[a : a + 1024]
            inter = xa @ self._sets.T
            union = xa.sum(axis=1)[:, None] + t_size[None, :] - inter
            sim = (inter / np.maximum(union, 1.0)).max(axis=1)
            out[a : a + xa.shape[0]] = np.where(xa.any(axis=1), 1.0 - sim, 0.0)
        return out

    def score(self, trace: ArrayLike) -> float:
        return float(self.score_many([trace])[0])
