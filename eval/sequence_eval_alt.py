"""Four more scorer families for issue 15 (session 6), each chosen leave-one-corpus-out.

``python -m eval.sequence_eval_alt`` prints the table of docs/sequence-model.md "Session 6";
tests/test_sequence_eval_alt.py asserts it.  Same corpora, metrics and leave-one-corpus-out
criterion as ``eval.sequence_eval``; the UNM corpora use their first ``ALT_FOLDS`` folds (seed 0's
5-fold split over distinct sequences) like the GRU table, since calibration fits six models per
fold, and stide and L3's setting are re-measured on exactly those folds (``--all-folds`` runs
every fold, as the main table does: ~3.5 min of one core, not pinned by the tests).

Each family was written down in notes/seq.md before its first score was computed:

1. **Calibrated exceedance (CE, binomial).**  The window grid's aggregates are a top-k mean
   (ignores the trace's length) or a whole-trace mean (ignores how rare the rare positions are).
   The UNM corpora want the first (an attack is a burst inside a normal process), ADFA-LD the
   second (an attack is a whole process mildly unusual throughout; its held-out normals carry
   isolated rare calls).  A binomial tail uses both: with ``p`` the rate at which a *normal*
   call's novelty exceeds a threshold ``t``, a trace of ``n`` calls of which ``k`` exceed ``t``
   scores ``-ln P(Binomial(n, p) >= k)``.  ``t`` and ``p`` come from the corpus's own normal
   training traces, never from attacks: each training position's novelty under a model fitted
   without its sequence (5-fold cross-fitting over distinct training sequences), ``t`` its
   ``q``-quantile, ``p`` the fraction strictly above.  12 window models x q in {0.9, 0.99,
   0.999, max over the three} = 48 settings.
2. **CE with a beta-binomial tail (CE-BB)**, written down after family 1 failed on ADFA-LD
   because its normal traces' rates vary more than a binomial allows: the cross-fitted traces'
   (k, n) give the overdispersion by moments, so a long trace is compared with the normal
   traces' spread of rates while a short one still counts its burst.  48 settings.
3. **Lookahead pairs (+ frequency).**  Forrest's pairs (call at i-l, call at i), l = 1..L-1,
   L in {2, 3, 5, 8}; a trace scores the fraction of positions with a pair never seen in
   training (``any``) or the mean share of such pairs (``mean``), standardised by the median
   and IQR of cross-fitted training-normal trace scores and added to w x the standardised
   frequency baseline, w in {0, 0.5, 1}.  24 settings.
4. **A switch decided by the training normals** (``SwitchConfig``): a fold whose cross-fitted
   normal runs mostly have no unseen stide window is scored by one scorer, else by another, both
   chosen leave-one-corpus-out.
"""

from __future__ import annotations

import io
import sys
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from eval.sequence_eval import (
    STIDE,
    Corpus,
    Figures,
    Fold,
    Results,
    _concat_codes,
    _Ranked,
    acceptance,
    choose,
    corpus_args_refused,
    figures_over_folds,
    leave_one_corpus_out,
    load_all,
    shipped_config,
)
from h7.detect.sequence import NOVELTIES, SMOOTHINGS, SequenceModel, StideModel, SyscallSetModel

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: Quantiles of the cross-fitted normal novelties used as thresholds (fixed in advance).
LEVELS = (0.9, 0.99, 0.999)
#: Cross-fitting folds inside a training set, over its distinct sequences.
CROSS_FOLDS = 5


@dataclass(frozen=True, order=True)
class CEConfig:
    """One calibrated-exceedance setting: a window model and a level (0: max over ``LEVELS``)."""

    smoothing: str
    order: int
    novelty: str
    level: float
    #: "binom": binomial tail (family 1); "betabinom": beta-binomial tail with the normal traces'
    #: overdispersion (family 2, written down after family 1's result)
    tail: str = "binom"

    def label(self) -> str:
        lv = "max over q 0.9/0.99/0.999" if self.level == 0 else f"q {self.level:g}"
        sm = "KN" if self.smoothing == "kn" else "WB"
        name = "CE" if self.tail == "binom" else "CE-BB"
        return f"{name} {sm} order {self.order}, {self.novelty}, {lv}"


CE_GRID = [
    CEConfig(sm, o, nv, lv)
    for sm in SMOOTHINGS
    for o in (3, 4, 6)
    for nv in NOVELTIES
    for lv in (*LEVELS, 0.0)
]
CE_BB_GRID = [CEConfig(c.smoothing, c.order, c.novelty, c.level, "betabinom") for c in CE_GRID]


def binomial_tail(k: I64, n: I64, p: float) -> F64:
    """``-ln P(Binomial(n, p) >= k)`` per trace; 0 where k = 0.

    scipy's log survival function underflows to -inf past ~1e-308; there the tail is taken from
    its first term and the geometric bound on the rest (exact to well under one nat there), so
    that huge bursts keep their order instead of tying at infinity.
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    out = -stats.binom.logsf(k - 1, n, p)
    bad = ~np.isfinite(out)
    if bad.any():
        kb, nb = k[bad], n[bad]
        ratio = np.minimum((nb - kb) * p / ((kb + 1) * (1 - p)), 0.999999)
        out[bad] = -(stats.binom.logpmf(kb, nb, p) - np.log1p(-ratio))
    return np.where(k <= 0, 0.0, out)


def beta_binomial_tail(k: I64, n: I64, a: float, b: float) -> F64:
    """``-ln P(BetaBinomial(n, a, b) >= k)`` per trace; 0 where k = 0.

    Computed as the lower tail of the mirrored variable, ``P(BetaBinomial(n, b, a) <= n - k)``:
    scipy's survival function is ``1 - cdf`` and loses everything below ~1e-16, its cdf does not.
    scipy sums the cdf term by term in Python, so each distinct (k > 0, n) is computed once.
    """
    k = np.asarray(k, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    out = np.zeros(k.size)
    pos = k > 0
    if pos.any():
        pairs, inv = np.unique(np.stack([k[pos], n[pos]]), axis=1, return_inverse=True)
        vals = -stats.betabinom.logcdf(pairs[1] - pairs[0], pairs[1], b, a)
        out[pos] = vals[inv.ravel()]
    return out


@dataclass
class Calibration:
    """What a corpus's own normal training traces say about one window model's novelties."""

    novelty: F64  # every training position's cross-fitted novelty, traces laid end to end
    lens: I64  # calls per training trace (copies included)

    def levels(self) -> list[tuple[float, float, float, float]]:
        """(threshold, rate above it, beta-binomial alpha, beta) for each of ``LEVELS``.

        The rate's overdispersion across traces comes from the moment estimate of the
        intra-trace correlation rho; no overdispersion (rho <= 0) is floored at 1e-6, i.e. a
        beta-binomial indistinguishable from the binomial.
        """
        out = []
        starts = np.concatenate(([0], np.cumsum(self.lens)[:-1]))
        ne = self.lens > 0
        n = self.lens[ne].astype(np.float64)
        for q in LEVELS:
            t = float(np.quantile(self.novelty, q))
            above = self.novelty > t
            p = max(float(np.mean(above)), 1.0 / (self.novelty.size + 1))
            k = np.add.reduceat(above.astype(np.float64), starts[ne])
            s = float(np.sum((k - n * p) ** 2 / (n * p * (1 - p))))
            denom = float(np.sum(n - 1))
            rho = (s - n.size) / denom if denom > 0 else 0.0
            rho = min(max(rho, 1e-6), 0.5)
            out.append((t, p, p * (1 / rho - 1), (1 - p) * (1 / rho - 1)))
        return out


def cross_splits(train: Sequence[I64], seed: int = 0) -> Iterator[tuple[list[I64], list[I64]]]:
    """(fit, held) pairs of 5-fold cross-fitting over the DISTINCT training sequences.

    Copies of one sequence stay on one side: otherwise a held-out trace's copy in the fit part
    makes it look perfectly normal and the calibration far too strict.
    """
    groups: dict[bytes, list[I64]] = {}
    for t in train:
        groups.setdefault(t.tobytes(), []).append(t)
    g = list(groups.values())
    perm = np.random.default_rng(seed).permutation(len(g))
    for f in range(min(CROSS_FOLDS, len(g))):
        held = set(perm[f::CROSS_FOLDS].tolist())
        fit = [t for i in range(len(g)) if i not in held for t in g[i]]
        test = [t for i in sorted(held) for t in g[i]]
        if fit and test:
            yield fit, test


def _cross_fit(train: Sequence[I64], sm: str, order: int) -> dict[str, Calibration]:
    """Novelty of every training position under a model fitted without its sequence, per novelty."""
    parts: dict[str, list[F64]] = {nv: [] for nv in NOVELTIES}
    lens: list[int] = []
    for fit, test in cross_splits(train):
        m = SequenceModel(order=order, smoothing=sm).fit(fit)
        codes, off = _concat_codes(test)
        lens.extend(np.diff(off).tolist())
        for nv in NOVELTIES:
            m.novelty = nv
            parts[nv].append(m.code_novelty(codes))
    ln = np.array(lens, dtype=np.int64)
    return {nv: Calibration(np.concatenate(v), ln) for nv, v in parts.items()}


def ce_fold_scores(
    fold: Fold, cfgs: Sequence[CEConfig] = CE_GRID + CE_BB_GRID
) -> dict[object, tuple[F64, F64]]:
    """(normal scores, attack-unit scores) of stide, L3's setting and every CE setting on one fold."""
    traces = fold.scored()
    codes, off = _concat_codes(traces)
    lens = np.diff(off)
    starts = off[:-1]
    split = fold.split

    def count_above(nov: F64, t: float) -> I64:
        c = np.zeros(lens.size, dtype=np.int64)
        ne = lens > 0
        c[ne] = np.add.reduceat((nov > t).astype(np.int64), starts[ne])
        return c

    out: dict[object, tuple[F64, F64]] = {}
    st = StideModel(6).fit(fold.train)
    out[STIDE] = split(np.array([st.score(t) for t in traces]))
    l3 = shipped_config()
    for sm, o in sorted({(c.smoothing, c.order) for c in cfgs} | {(l3.smoothing, l3.order)}):
        m = SequenceModel(order=o, smoothing=sm).fit(fold.train)
        cross = _cross_fit(fold.train, sm, o)
        for nv in NOVELTIES:
            m.novelty = nv
            nov = m.code_novelty(codes)
            if (sm, o, nv) == (l3.smoothing, l3.order, l3.novelty):
                out[l3] = split(_Ranked(nov, off).top_mean(l3.top_k, l3.top_frac))
            sel = [c for c in cfgs if (c.smoothing, c.order, c.novelty) == (sm, o, nv)]
            if not sel:
                continue
            levels = cross[nv].levels()
            counts = [count_above(nov, t) for t, _, _, _ in levels]
            tails = {
                "binom": [binomial_tail(k, lens, p) for k, (_, p, _, _) in zip(counts, levels, strict=True)],
                "betabinom": [
                    beta_binomial_tail(k, lens, a, b) for k, (_, _, a, b) in zip(counts, levels, strict=True)
                ],
            }
            for c in sel:
                per_level = tails[c.tail]
                s = np.max(per_level, axis=0) if c.level == 0 else per_level[LEVELS.index(c.level)]
                out[c] = split(s)
    return out


# --- family 3: lookahead pairs (+ frequency) ----------------------------------------------------


@dataclass(frozen=True, order=True)
class PairConfig:
    """Lookahead pairs over a window of ``window`` calls, read as ``read``, plus ``w`` x frequency."""

    window: int
    read: str  # "any": fraction of positions with a new pair; "mean": mean share of new pairs
    w: float

    def label(self) -> str:
        extra = f" + {self.w:g} x frequency" if self.w else ""
        return f"lookahead pairs L={self.window}, {self.read}{extra}"


PAIR_GRID = [PairConfig(L, r, w) for L in (2, 3, 5, 8) for r in ("any", "mean") for w in (0.0, 0.5, 1.0)]


def _pair_keys(codes: npt.NDArray[np.uint64], off: I64, lag: int) -> tuple[I64, npt.NDArray[np.bool_]]:
    """(key of the pair (call i-lag, call i), whether call i-lag is in the same trace) per position."""
    tok = (codes & np.uint64(1023)).astype(np.int64)
    lens = np.diff(off)
    pos = np.arange(tok.size) - np.repeat(off[:-1], lens)
    prev = np.roll(tok, lag)
    return prev * 1024 + tok, pos >= lag


class PairModel:
    """Forrest's lookahead pairs: which (earlier call, call, lag) triples normal traces contain."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.seen: list[I64] = []

    def fit(self, traces: Sequence[I64]) -> PairModel:
        codes, off = _concat_codes(traces)
        self.seen = []
        for lag in range(1, self.window):
            k, ok = _pair_keys(codes, off, lag)
            self.seen.append(np.unique(k[ok]))
        return self

    def mismatches(self, codes: npt.NDArray[np.uint64], off: I64) -> I64:
        """Per position: how many of its lags pair it with an earlier call in a way never seen."""
        m = np.zeros(codes.size, dtype=np.int64)
        for lag, seen in enumerate(self.seen, start=1):
            k, ok = _pair_keys(codes, off, lag)
            m += ok & ~np.isin(k, seen)
        return m

    def scores(self, codes: npt.NDArray[np.uint64], off: I64) -> dict[str, F64]:
        m = self.mismatches(codes, off)
        lens = np.diff(off)
        ne = lens > 0
        out = {r: np.zeros(lens.size) for r in ("any", "mean")}
        if ne.any():
            starts = off[:-1][ne]
            out["any"][ne] = np.add.reduceat((m > 0).astype(np.float64), starts) / lens[ne]
            out["mean"][ne] = np.add.reduceat(m / max(self.window - 1, 1), starts) / lens[ne]
        return out


def _freq_scores(train: Sequence[I64], codes: npt.NDArray[np.uint64], off: I64) -> F64:
    freq = SequenceModel(order=1, top_frac=1.0).fit(train)
    return _Ranked(freq.code_novelty(codes & np.uint64(1023)), off).top_mean(1, 1.0)


def _robust_scale(x: F64) -> tuple[float, float]:
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    return float(med), max(float(q3 - q1), 1e-9)


def pair_fold_scores(fold: Fold, cfgs: Sequence[PairConfig] = PAIR_GRID) -> dict[object, tuple[F64, F64]]:
    """(normal scores, attack-unit scores) of every lookahead-pair setting on one fold."""
    codes, off = _concat_codes(fold.scored())
    split = fold.split

    # cross-fitted training-normal trace scores, for the standardisation only
    cross: dict[object, list[F64]] = {}
    for fit, test in cross_splits(fold.train):
        c2, o2 = _concat_codes(test)
        cross.setdefault("freq", []).append(_freq_scores(fit, c2, o2))
        for L in sorted({c.window for c in cfgs}):
            for r, v in PairModel(L).fit(fit).scores(c2, o2).items():
                cross.setdefault((L, r), []).append(v)
    scale = {k: _robust_scale(np.concatenate(v)) for k, v in cross.items()}

    def z(key: object, x: F64) -> F64:
        med, iqr = scale[key]
        return (x - med) / iqr

    out: dict[object, tuple[F64, F64]] = {}
    fz = z("freq", _freq_scores(fold.train, codes, off))
    for L in sorted({c.window for c in cfgs}):
        sc = PairModel(L).fit(fold.train).scores(codes, off)
        for c in cfgs:
            if c.window == L:
                out[c] = split(z((L, c.read), sc[c.read]) + c.w * fz)
    return out


# --- family 4: a switch decided by the training normals ---------------------------------------


#: The scorers a "closed" corpus (u <= 0.5) may get, in tie-break order.
SWITCH_A = {"l3": "L3's setting", "pairs": "lookahead pairs L=2, any"}
#: The scorers an "open" corpus (u > 0.5) may get, in tie-break order: live ones, then offline ones.
SWITCH_B_LIVE = {"l3": "L3's setting", "wb6mean": "order 6, last, mean", "kn6mean": "KN order 6, last, mean"}
SWITCH_B_OFFLINE = {
    "set": "syscall-set distance alone",
    "wb6mean+2set": "order 6, last, mean + 2 x syscall-set distance",
    "wb6mean+4set": "order 6, last, mean + 4 x syscall-set distance",
    "wb6mean+8set": "order 6, last, mean + 8 x syscall-set distance",
}


@dataclass(frozen=True)
class SwitchConfig:
    """Score a fold with ``a`` if its training normals are "closed" (u <= 0.5), else with ``b``.

    ``u`` is the fraction of cross-fitted training traces with a stide window unseen in their
    fit part: a program whose held-apart normal runs are mostly covered by the others' windows
    wants a score over its few novel positions; one whose normal runs mostly are not wants a
    whole-trace score.  ``a`` and ``b`` are keys of ``SWITCH_A`` and ``SWITCH_B_*``.
    """

    a: str
    b: str

    def label(self) -> str:
        b = {**SWITCH_B_LIVE, **SWITCH_B_OFFLINE}[self.b]
        return f"switch: {SWITCH_A[self.a]} if u <= 0.5 else {b}"


SWITCH_LIVE = [SwitchConfig(a, b) for a in SWITCH_A for b in SWITCH_B_LIVE]
SWITCH_OFFLINE = [SwitchConfig(a, b) for a in SWITCH_A for b in SWITCH_B_OFFLINE]
#: key under which a fold's statistic u is kept (its "scores" are (u,) and ())
OPEN_SHARE = "u: share of cross-fitted training normals with an unseen stide window"


def open_share(train: Sequence[I64]) -> float:
    """u: how often a normal trace held apart from training has a 6-call window training lacks."""
    hits = total = 0
    for fit, test in cross_splits(train):
        st = StideModel(6).fit(fit)
        hits += sum(st.score(t) > 0 for t in test)
        total += len(test)
    return hits / max(total, 1)


def switch_fold_scores(
    fold: Fold,
    known: dict[object, tuple[F64, F64]],
    cfgs: Sequence[SwitchConfig] = SWITCH_LIVE + SWITCH_OFFLINE,
) -> dict[object, tuple[F64, F64]]:
    """Family 4 on one fold; ``known`` holds the fold's L3 and lookahead-pair scores already computed."""
    u = open_share(fold.train)
    out: dict[object, tuple[F64, F64]] = {OPEN_SHARE: (np.array([u]), np.zeros(0))}
    if u <= 0.5:
        a = {"l3": known[shipped_config()], "pairs": known[PairConfig(2, "any", 0.0)]}
        for c in cfgs:
            out[c] = a[c.a]
        return out
    traces = fold.scored()
    codes, off = _concat_codes(traces)
    split = fold.split

    kn = SequenceModel(order=6, novelty="last", smoothing="kn").fit(fold.train)
    wb = SequenceModel(order=6, novelty="last").fit(fold.train)
    sets = SyscallSetModel().fit(fold.train).score_many(traces)
    wb_mean = _Ranked(wb.code_novelty(codes), off).top_mean(1, 1.0)
    b: dict[str, tuple[F64, F64]] = {
        "l3": known[shipped_config()],
        "wb6mean": split(wb_mean),
        "kn6mean": split(_Ranked(kn.code_novelty(codes), off).top_mean(1, 1.0)),
        "set": split(sets),
        **{f"wb6mean+{w}set": split(wb_mean + w * sets) for w in (2, 4, 8)},
    }
    for c in cfgs:
        out[c] = b[c.b]
    return out


#: Folds per UNM corpus (the first 5 = seed 0's 5-fold split over distinct sequences); ADFA-LD has one.
ALT_FOLDS = 5
FAMILIES: dict[str, list[Any]] = {
    "CE (binomial)": list(CE_GRID),
    "CE-BB (beta-binomial)": list(CE_BB_GRID),
    "lookahead pairs (+ frequency)": list(PAIR_GRID),
    "switch by normals, live B": list(SWITCH_LIVE),
    "switch by normals, offline B": list(SWITCH_OFFLINE),
}
#: the live settings of all families (the offline switch needs whole traces)
ALL_ALT: list[Any] = [c for fam, cfgs in FAMILIES.items() if "offline" not in fam for c in cfgs]


def evaluate_corpus(corpus: Corpus, folds: int = ALT_FOLDS) -> dict[object, Figures]:
    """Figures of stide, L3's setting and every setting of the four families on one corpus."""

    shares: list[float] = []

    def per_fold(fold: Fold) -> dict[object, tuple[F64, F64]]:
        known = {**ce_fold_scores(fold), **pair_fold_scores(fold)}
        sw = switch_fold_scores(fold, known)
        shares.append(float(sw.pop(OPEN_SHARE)[0][0]))
        return {**known, **sw}

    out = figures_over_folds(per_fold(f) for f in corpus.folds[:folds])
    OPEN_SHARES[corpus.name] = shares
    return out


#: u of every fold, by corpus name, from the last ``evaluate_corpus`` (printed by the report)
OPEN_SHARES: dict[str, list[float]] = {}


def run(names: Sequence[str] | None = None, folds: int = ALT_FOLDS) -> tuple[dict[str, Corpus], Results]:
    """``folds``: how many of each corpus's folds (``len(folds)`` or more: all, as the main table)."""
    corpora = load_all(names)
    return corpora, {n: evaluate_corpus(c, folds) for n, c in corpora.items()}


def loco(results: Results, cfgs: Sequence[Any]) -> dict[str, Any]:
    """``sequence_eval.leave_one_corpus_out`` over any family: the criterion reads results by key."""
    return leave_one_corpus_out(results, cfgs)


def best_in_sample(results: Results, corpora: Sequence[str], cfgs: Sequence[Any]) -> Any:
    """``sequence_eval.choose`` over any family (the best setting on ``corpora`` by the criterion)."""
    return choose(results, corpora, cfgs)


def report(corpora: dict[str, Corpus], results: Results) -> Iterator[str]:
    l3 = shipped_config()
    yield "| corpus | family | chosen without this corpus | AUC / FAR@90 | best on this corpus (in-sample) |"
    yield "|---|---|---|---|---|"
    picks = {fam: loco(results, cfgs) for fam, cfgs in FAMILIES.items()}
    picks["all live families"] = loco(results, ALL_ALT)
    for n, c in corpora.items():
        r = results[n]
        yield f"| {c.name} | stide (n = 6) | | {_short(r[STIDE])} | |"
        yield f"| {c.name} | L3's setting | {l3.label()} | {_short(r[l3])} | |"
        for fam, chosen in picks.items():
            cfgs = FAMILIES.get(fam, ALL_ALT)
            best = best_in_sample(results, [n], cfgs)
            pick = chosen[n]
            held, ins = _short(r[pick]), _short(r[best])
            yield f"| {c.name} | {fam} | {pick.label()} | {held} | {best.label()}: {ins} |"
    yield ""
    yield "u per fold (switch: A if u <= 0.5): " + "; ".join(
        f"{c.name} " + " ".join(f"{u:.2f}" for u in OPEN_SHARES.get(c.name, [])) for c in corpora.values()
    )
    yield ""
    yield "| corpus | " + " | ".join(f"bar, {fam} chosen without it" for fam in picks) + " |"
    yield "|---|" + "---|" * len(picks)
    for n, c in corpora.items():
        yield f"| {c.name} | " + " | ".join(acceptance(results, n, ch[n]) for ch in picks.values()) + " |"


def _short(f: Figures) -> str:
    return f"{f.auc:.3f} / {f.far90:.3f}"


def folds_main(
    prog: str,
    argv: Sequence[str] | None,
    run: Callable[[Sequence[str] | None, int], tuple[dict[str, Corpus], Results]],
    report: Callable[[dict[str, Corpus], Results], Iterable[str]],
) -> int:
    """The command line of an evaluation over the first ALT_FOLDS folds: [--all-folds] [corpus ...].

    Shared by this script and sequence_eval_s11, so both take the same arguments and refuse
    bad input in the same words.  --all-folds: every fold of the UNM corpora (15-25, as the main
    table; ~3.5 min of one core, not pinned by the tests) instead of the first 5.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    folds = 10**6 if "--all-folds" in args else ALT_FOLDS
    args = [a for a in args if a != "--all-folds"]
    if corpus_args_refused(prog, args):
        return 2
    try:
        corpora, results = run(args or None, folds)
    except (OSError, ValueError, tarfile.TarError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    out = io.StringIO()
    for line in report(corpora, results):
        print(line, file=out)
    print(out.getvalue(), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return folds_main("sequence_eval_alt", argv, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
