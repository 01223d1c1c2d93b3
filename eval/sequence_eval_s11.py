"""Three more scorer families for issue 15 (session 11), each chosen leave-one-corpus-out.

``python -m eval.sequence_eval_s11`` prints the table of docs/sequence-model.md "Session 11";
tests/test_sequence_eval_s11.py asserts it.  Same corpora, metrics and criterion as
``eval.sequence_eval``; like Session 6's table the UNM corpora use their first ``ALT_FOLDS`` folds
and ADFA-LD its published split, and stide, the frequency baseline and L3's setting are
re-measured on exactly those folds (``--all-folds``: every fold, as the main table).

The three families, their grids and their combination rules were written in the docs (committed)
before any of them was scored:

1. **TF-IDF n-gram bags, k-th nearest normal trace** (offline): idf makes the rare and unseen
   n-grams carry the distance, where Session 5's plain count vectors let common calls dominate;
   the k-th neighbour asks a trace to resemble several normals, not one.
2. **Rarest-window mass per call against length-matched normals** (live-capable): the novelty in
   excess of a normal quantile, summed and divided by the length, compared with cross-fitted
   normal traces of similar length, between the top-k mean (which isolated rare calls of a long
   normal trace dominate) and the whole-trace mean (which dilutes a burst).
3. **Window model + TF-IDF distance, each standardised on the corpus's own cross-fitted normals**
   (offline): so that a weight chosen on four corpora means the same on the fifth.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from eval.sequence_eval import (
    FREQ,
    STIDE,
    Corpus,
    Figures,
    Fold,
    Results,
    SeqConfig,
    _concat_codes,
    _Ranked,
    acceptance,
    choose,
    figures_over_folds,
    leave_one_corpus_out,
    load_all,
    meets_bar,
    shipped_config,
)
from eval.sequence_eval_alt import ALT_FOLDS, _freq_scores, _robust_scale, cross_splits, folds_main
from h7.detect.sequence import SequenceModel, StideModel, code_depth

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]


# --- family 1: TF-IDF n-gram bags, distance to the k-th nearest normal trace ---------------------


@dataclass(frozen=True, order=True)
class TfidfConfig:
    """n-gram orders ``ns``, term frequency ``tf`` ("freq" or "log"), the ``k``-th nearest trace."""

    ns: tuple[int, ...]
    tf: str
    k: int

    def label(self) -> str:
        return f"TF-IDF {'/'.join(map(str, self.ns))}-grams, tf {self.tf}, k = {self.k}"


TFIDF_GRID = [
    TfidfConfig(ns, tf, k)
    for ns in ((1,), (2,), (3,), (1, 2, 3))
    for tf in ("freq", "log")
    for k in (1, 3, 10)
]


def _ngram_bags(traces: Sequence[npt.NDArray[np.int64]], ns: tuple[int, ...]) -> tuple[I64, U64, I64]:
    """(trace index, n-gram key, count) of every distinct n-gram of every trace, n in ``ns``.

    The key of an n-gram is the window code masked to its last n calls; its top call is never
    token 0, so keys of different n never collide.  An n-gram exists only where the window
    holds n calls of the same trace (``code_depth``), so nothing spans two traces.
    """
    codes, off = _concat_codes(traces)
    tid = np.repeat(np.arange(len(traces), dtype=np.int64), np.diff(off))
    depth = code_depth(codes)
    rows: list[I64] = []
    keys: list[U64] = []
    for n in ns:
        ok = depth >= n
        rows.append(tid[ok])
        keys.append(codes[ok] & np.uint64((1 << (10 * n)) - 1))
    r = np.concatenate(rows)
    k = np.concatenate(keys)
    if r.size == 0:
        return r, k, np.zeros(0, np.int64)
    order = np.lexsort((k, r))
    r, k = r[order], k[order]
    new = np.ones(r.size, dtype=bool)
    new[1:] = (r[1:] != r[:-1]) | (k[1:] != k[:-1])
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, r.size)).astype(np.int64)
    return r[starts], k[starts], counts


class TfidfKnn:
    """Trace vectors of idf-weighted n-gram frequencies; score = 1 - cosine to the k-th nearest."""

    def __init__(self, ns: tuple[int, ...], tf: str) -> None:
        if tf not in ("freq", "log"):
            raise ValueError(f"tf must be 'freq' or 'log', not {tf!r}")
        self.ns = ns
        self.tf = tf
        self.vocab = np.zeros(0, np.uint64)
        self.idf = np.zeros(0)
        self.idf_unseen = 1.0
        self.train = sparse.csr_matrix((0, 0))

    def _weights(self, rows: I64, counts: I64, n_traces: int) -> F64:
        if self.tf == "log":
            return 1.0 + np.log(counts.astype(np.float64))
        total = np.bincount(rows, weights=counts.astype(np.float64), minlength=n_traces)
        return counts / total[rows]

    def fit(self, traces: Sequence[npt.NDArray[np.int64]]) -> TfidfKnn:
        rows, keys, counts = _ngram_bags(traces, self.ns)
        if rows.size == 0:
            raise ValueError("TF-IDF: no n-grams in the training traces")
        self.vocab, col, df = np.unique(keys, return_inverse=True, return_counts=True)
        t = len(traces)
        self.idf = np.log((1.0 + t) / (1.0 + df)) + 1.0
        self.idf_unseen = float(np.log(1.0 + t) + 1.0)
        w = self._weights(rows, counts, t) * self.idf[col]
        m = sparse.csr_matrix((w, (rows, col)), shape=(t, self.vocab.size))
        self.train = _l2_rows(m)
        return self

    def similarities(self, traces: Sequence[npt.NDArray[np.int64]]) -> F64:
        """Cosine similarity of each trace to each training trace (dense: traces x training)."""
        rows, keys, counts = _ngram_bags(traces, self.ns)
        n = len(traces)
        w = self._weights(rows, counts, n)
        pos = np.minimum(np.searchsorted(self.vocab, keys), max(self.vocab.size - 1, 0))
        seen = self.vocab[pos] == keys
        w = w * np.where(seen, self.idf[pos], self.idf_unseen)
        # the norm counts every n-gram, seen or not: an unseen one lowers every similarity
        norm = np.sqrt(np.bincount(rows, weights=w * w, minlength=n))
        q = sparse.csr_matrix((w[seen], (rows[seen], pos[seen])), shape=(n, self.vocab.size))
        sims = np.asarray((q @ self.train.T).todense())
        with np.errstate(invalid="ignore", divide="ignore"):
            sims = np.where(norm[:, None] > 0, sims / norm[:, None], 0.0)
        return sims

    def scores(self, traces: Sequence[npt.NDArray[np.int64]], ks: Sequence[int]) -> dict[int, F64]:
        """1 - similarity to the k-th most similar training trace, for each k (capped at their count)."""
        sims = self.similarities(traces)
        t = sims.shape[1]
        srt = -np.sort(-sims, axis=1)
        return {k: 1.0 - srt[:, min(k, t) - 1] for k in ks}


def _l2_rows(m: sparse.csr_matrix) -> sparse.csr_matrix:
    norm = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norm[norm == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norm) @ m)


def tfidf_fold_scores(fold: Fold, cfgs: Sequence[TfidfConfig] = TFIDF_GRID) -> dict[object, tuple[F64, F64]]:
    """Family 1 on one fold: one fit per (n-gram orders, tf), every k from the same similarities."""
    traces = fold.scored()
    out: dict[object, tuple[F64, F64]] = {}
    for ns, tf in sorted({(c.ns, c.tf) for c in cfgs}):
        sel = [c for c in cfgs if (c.ns, c.tf) == (ns, tf)]
        sc = TfidfKnn(ns, tf).fit(fold.train).scores(traces, sorted({c.k for c in sel}))
        for c in sel:
            out[c] = fold.split(sc[c.k])
    return out


# --- family 2: rarest-window mass per call, against length-matched normals -----------------------


@dataclass(frozen=True, order=True)
class MassConfig:
    order: int
    q: float
    reference: str  # "raw" or "length-matched"

    def label(self) -> str:
        return f"excess mass, order {self.order}, last, q {self.q:g}, {self.reference}"


MASS_GRID = [
    MassConfig(o, q, ref) for o in (4, 6) for q in (0.5, 0.9, 0.99) for ref in ("raw", "length-matched")
]
#: how many cross-fitted training traces, closest in ln(length), form a trace's reference
MATCHED = 25


def excess_mass(nov: F64, off: I64, tau: float) -> F64:
    """Per trace: sum of max(novelty - tau, 0) over its calls / its length (0 for an empty trace)."""
    lens = np.diff(off)
    out = np.zeros(lens.size)
    ne = lens > 0
    if ne.any():
        out[ne] = np.add.reduceat(np.maximum(nov - tau, 0.0), off[:-1][ne]) / lens[ne]
    return out


def length_matched(mass: F64, lens: I64, ref_mass: F64, ref_lens: I64, m: int = MATCHED) -> F64:
    """(mass - med) / max(iqr, IQR, 1e-6) against the ``m`` reference traces closest in ln(length).

    med and iqr are those of the matched references' masses, IQR that of all references; ties in
    length distance go to the earlier reference (a stable sort).
    """
    if ref_mass.size == 0:
        raise ValueError("length-matched reference: no cross-fitted training traces")
    m = min(m, ref_mass.size)
    q1, q3 = np.quantile(ref_mass, [0.25, 0.75])
    floor = max(float(q3 - q1), 1e-6)
    dist = np.abs(np.log(np.maximum(lens, 1))[:, None] - np.log(np.maximum(ref_lens, 1))[None, :])
    near = np.argsort(dist, axis=1, kind="stable")[:, :m]
    ref = ref_mass[near]
    lo, med, hi = np.quantile(ref, [0.25, 0.5, 0.75], axis=1)
    return (mass - med) / np.maximum(hi - lo, floor)


def _cross_novelties(train: Sequence[npt.NDArray[np.int64]], order: int) -> tuple[F64, I64]:
    """Every training call's `last` novelty under a WB model fitted without its sequence; trace offsets."""
    parts: list[F64] = []
    lens: list[int] = []
    for fit, held in cross_splits(train):
        m = SequenceModel(order=order, novelty="last").fit(fit)
        codes, off = _concat_codes(held)
        parts.append(m.code_novelty(codes))
        lens.extend(np.diff(off).tolist())
    off = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=off[1:])
    return np.concatenate(parts), off


def mass_fold_scores(fold: Fold, cfgs: Sequence[MassConfig] = MASS_GRID) -> dict[object, tuple[F64, F64]]:
    """Family 2 on one fold: tau and the reference come from the training normals alone, cross-fitted."""
    codes, off = _concat_codes(fold.scored())
    lens = np.diff(off)
    out: dict[object, tuple[F64, F64]] = {}
    for o in sorted({c.order for c in cfgs}):
        nov = SequenceModel(order=o, novelty="last").fit(fold.train).code_novelty(codes)
        cnov, coff = _cross_novelties(fold.train, o)
        for c in cfgs:
            if c.order != o:
                continue
            tau = float(np.quantile(cnov, c.q))
            mass = excess_mass(nov, off, tau)
            if c.reference == "length-matched":
                mass = length_matched(mass, lens, excess_mass(cnov, coff, tau), np.diff(coff))
            out[c] = fold.split(mass)
    return out


# --- family 3: window model + TF-IDF distance, standardised on cross-fitted normals --------------

W_TERMS = {"l3": "L3's setting", "wb6mean": "order 6, last, mean"}
D_TERMS = {1: TfidfConfig((1, 2, 3), "log", 1), 10: TfidfConfig((1, 2, 3), "log", 10)}
RULES = ("+0.5", "+1", "+2", "max")


@dataclass(frozen=True, order=True)
class ComboConfig:
    w: str  # key of W_TERMS
    d: int  # key of D_TERMS (the k of the TF-IDF term)
    rule: str  # one of RULES

    def label(self) -> str:
        d = D_TERMS[self.d].label()
        if self.rule == "max":
            return f"max(z[{W_TERMS[self.w]}], z[{d}])"
        return f"z[{W_TERMS[self.w]}] {self.rule[0]} {self.rule[1:]} z[{d}]"


COMBO_GRID = [ComboConfig(w, d, r) for w in W_TERMS for d in D_TERMS for r in RULES]


def _w_scores(
    train: Sequence[npt.NDArray[np.int64]], traces: Sequence[npt.NDArray[np.int64]]
) -> dict[str, F64]:
    codes, off = _concat_codes(traces)
    l3 = shipped_config()
    out = {"l3": _Ranked(l3.model().fit(train).code_novelty(codes), off).top_mean(l3.top_k, l3.top_frac)}
    six = SequenceModel(order=6, novelty="last").fit(train)
    out["wb6mean"] = _Ranked(six.code_novelty(codes), off).top_mean(1, 1.0)
    return out


def _d_scores(
    train: Sequence[npt.NDArray[np.int64]], traces: Sequence[npt.NDArray[np.int64]]
) -> dict[int, F64]:
    base = D_TERMS[1]
    return TfidfKnn(base.ns, base.tf).fit(train).scores(traces, list(D_TERMS))


def combine(zw: F64, zd: F64, rule: str) -> F64:
    """One of ``RULES``: z_W + w z_D, or max(z_W, z_D)."""
    if rule == "max":
        return np.maximum(zw, zd)
    return zw + float(rule) * zd


def _terms(
    train: Sequence[npt.NDArray[np.int64]], traces: Sequence[npt.NDArray[np.int64]]
) -> dict[object, F64]:
    """Both kinds of term of family 3, keyed as ``ComboConfig.w`` and ``ComboConfig.d``."""
    out: dict[object, F64] = {}
    for wk, w in _w_scores(train, traces).items():
        out[wk] = w
    for dk, d in _d_scores(train, traces).items():
        out[dk] = d
    return out


def combo_fold_scores(fold: Fold, cfgs: Sequence[ComboConfig] = COMBO_GRID) -> dict[object, tuple[F64, F64]]:
    """Each term standardised by the median and IQR of its cross-fitted training-normal scores."""
    cross: dict[object, list[F64]] = {}
    for fit, held in cross_splits(fold.train):
        for key, v in _terms(fit, held).items():
            cross.setdefault(key, []).append(v)
    scale = {key: _robust_scale(np.concatenate(v)) for key, v in cross.items()}
    raw = _terms(fold.train, fold.scored())
    z = {key: (v - scale[key][0]) / scale[key][1] for key, v in raw.items()}
    return {c: fold.split(combine(z[c.w], z[c.d], c.rule)) for c in cfgs}


# --- the evaluation -------------------------------------------------------------------------------

FAMILIES: dict[str, list[Any]] = {
    "1. TF-IDF kNN (offline)": list(TFIDF_GRID),
    "2. excess mass, length-matched (live)": list(MASS_GRID),
    "3. standardised window + TF-IDF (offline)": list(COMBO_GRID),
}
ALL_S11: list[Any] = [c for cfgs in FAMILIES.values() for c in cfgs]


def fold_scores(fold: Fold) -> dict[object, tuple[F64, F64]]:
    """Baselines (stide, frequency, L3's setting) and every setting of the three families on one fold."""
    traces = fold.scored()
    codes, off = _concat_codes(traces)
    st = StideModel(6).fit(fold.train)
    l3: SeqConfig = shipped_config()
    out: dict[object, tuple[F64, F64]] = {
        STIDE: fold.split(np.array([st.score(t) for t in traces])),
        FREQ: fold.split(_freq_scores(fold.train, codes, off)),
        l3: fold.split(
            _Ranked(l3.model().fit(fold.train).code_novelty(codes), off).top_mean(l3.top_k, l3.top_frac)
        ),
    }
    out |= tfidf_fold_scores(fold)
    out |= mass_fold_scores(fold)
    out |= combo_fold_scores(fold)
    return out


def run(names: Sequence[str] | None = None, folds: int = ALT_FOLDS) -> tuple[dict[str, Corpus], Results]:
    corpora = load_all(names)
    return corpora, {
        n: figures_over_folds(fold_scores(f) for f in c.folds[:folds]) for n, c in corpora.items()
    }


def changes_l3(results: Results, picks: dict[str, Any]) -> bool:
    """The pre-registered rule: the bar met held out on every corpus but lpr, and on lpr no worse
    than L3's setting (AUC and FAR@90), on the same folds."""
    l3 = shipped_config()
    for n, cfg in picks.items():
        if n == "lpr":
            f, ref = results[n][cfg], results[n][l3]
            if f.auc < ref.auc or f.far90 > ref.far90:
                return False
        elif not meets_bar(results, n, cfg):
            return False
    return True


def _short(f: Figures) -> str:
    return f"{f.auc:.3f} / {f.far90:.3f}"


def report(corpora: dict[str, Corpus], results: Results) -> Iterator[str]:
    l3 = shipped_config()
    picks = {fam: leave_one_corpus_out(results, cfgs) for fam, cfgs in FAMILIES.items()}
    picks["all three pooled"] = leave_one_corpus_out(results, ALL_S11)
    yield "| corpus | scorer | chosen without this corpus | AUC / FAR@90 | best on this corpus (in-sample) |"
    yield "|---|---|---|---|---|"
    for n, c in corpora.items():
        r = results[n]
        yield f"| {c.name} | stide (n = 6) | | {_short(r[STIDE])} | |"
        yield f"| {c.name} | frequency | | {_short(r[FREQ])} | |"
        yield f"| {c.name} | L3's setting | {l3.label()} | {_short(r[l3])} | |"
        for fam, chosen in picks.items():
            best = choose(results, [n], FAMILIES.get(fam, ALL_S11))
            pick = chosen[n]
            held, ins = _short(r[pick]), _short(r[best])
            yield f"| {c.name} | {fam} | {pick.label()} | {held} | {best.label()}: {ins} |"
    yield ""
    yield "| corpus | " + " | ".join(f"bar, {fam}" for fam in picks) + " |"
    yield "|---|" + "---|" * len(picks)
    for n, c in corpora.items():
        yield f"| {c.name} | " + " | ".join(acceptance(results, n, ch[n]) for ch in picks.values()) + " |"
    yield ""
    for fam, chosen in picks.items():
        if set(chosen) == set(corpora):
            verdict = "yes" if changes_l3(results, chosen) else "no"
            yield f"{fam}: meets the pre-registered rule for changing L3: {verdict}"


def main(argv: Sequence[str] | None = None) -> int:
    return folds_main("sequence_eval_s11", argv, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
