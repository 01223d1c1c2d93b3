"""Syscall-sequence models on several public corpora, with settings chosen leave-one-corpus-out.

``python -m eval.sequence_eval`` prints the per-corpus table of docs/sequence-model.md;
tests/test_sequence_eval.py asserts the same figures.  The corpora are compressed copies of public
data under eval/data/syscalls/ (sources and licences in the README there).

Why the protocol looks like this:

* **One number per corpus is not enough.**  ``SequenceModel``'s top-k score was picked on UNM
  sendmail and judged there; on ADFA-LD it loses to stide.  So every setting (model order, how a
  position's novelty is read, how novelties combine into a trace score) is chosen
  *leave-one-corpus-out*: the figure reported for a corpus comes from the setting that did best
  on the *other* corpora, and a setting is only kept if it holds where it was not picked.
* **Folds over distinct sequences.**  Where normal processes repeat byte for byte (UNM), all
  copies of a sequence go to the same side of a split and each held-out sequence is scored once;
  training keeps every copy (frequencies matter).  ADFA-LD comes with its own split (training /
  validation normal traces), which is used as published.
* **Attack unit.**  UNM sendmail: an intrusion *file* is one attacked run of several processes,
  some of them ordinary children, so it is scored by its worst process.  UNM lpr: the 1001
  exploit processes are 8 distinct sequences; each distinct one counts once.  ADFA-LD: every
  attack trace counts (746, in 60 runs of 6 attack kinds).  UNM xlock and ps: each distinct
  intrusion process counts once.
* **Acceptance** (issue 15): AUC >= stide's + 0.02 and FAR@90 no worse than stide's, per corpus,
  for the setting chosen without that corpus; where stide is above 0.98 the bar is reported as
  infeasible (an AUC above 1), never silently redefined.
* **Metrics.**  ROC AUC (Mann-Whitney, ties 1/2) and the false-alarm rate at 90 % detection (the
  highest threshold that still flags 90 % of attacks; normals tied with it count as alarms), per
  fold, then averaged over folds.
"""

from __future__ import annotations

import io
import math
import sys
import tarfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from h7.detect.channels.l3_causal import L3Settings
from h7.detect.sequence import NOVELTIES, SMOOTHINGS, SequenceModel, StideModel, SyscallSetModel, window_codes

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

DATA_DIR = Path(__file__).resolve().parent / "data" / "syscalls"


# --- metrics -------------------------------------------------------------------------------------


def auc(neg: Sequence[float] | F64, pos: Sequence[float] | F64) -> float:
    """ROC AUC as the Mann-Whitney probability that an attack outranks a normal; ties count 1/2."""
    n = np.sort(np.asarray(neg, dtype=np.float64))
    p = np.asarray(pos, dtype=np.float64)
    lo = np.searchsorted(n, p, side="left")
    hi = np.searchsorted(n, p, side="right")
    return float((lo.sum() + 0.5 * (hi - lo).sum()) / (p.size * n.size))


def far_at_detection(neg: Sequence[float] | F64, pos: Sequence[float] | F64, rate: float = 0.9) -> float:
    """Fraction of normals alarmed at the highest threshold that still detects ``rate`` of attacks.

    Alarm means score >= threshold, so normals tied with the threshold count as false alarms.
    """
    p = np.sort(np.asarray(pos, dtype=np.float64))[::-1]
    need = max(1, math.ceil(rate * p.size - 1e-9))
    thr = p[need - 1]
    return float(np.mean(np.asarray(neg, dtype=np.float64) >= thr))


# --- corpora -------------------------------------------------------------------------------------


def parse_pid_pairs(text: str) -> list[I64]:
    """UNM format (``pid syscall`` per line) -> one syscall array per pid, in order of first appearance.

    Processes are interleaved in the files; a stable sort by pid keeps each one's calls in order.
    """
    a = np.array(text.split(), dtype=np.int64)
    if a.size % 2:
        raise ValueError("UNM trace: odd number of fields (expected 'pid syscall' pairs)")
    a = a.reshape(-1, 2)
    pids, first = np.unique(a[:, 0], return_index=True)
    order = np.argsort(first, kind="stable")
    by_pid = np.argsort(a[:, 0], kind="stable")
    bounds = np.searchsorted(a[by_pid, 0], pids)
    ends = np.append(bounds[1:], a.shape[0])
    return [a[by_pid[bounds[i] : ends[i]], 1].copy() for i in order]


@cache
def _members(name: str) -> dict[str, bytes]:
    """Regular files of ``eval/data/syscalls/<name>.tar.xz`` by path."""
    path = DATA_DIR / f"{name}.tar.xz"
    if not path.is_file():
        raise FileNotFoundError(f"corpus archive missing: {path}")
    out: dict[str, bytes] = {}
    with tarfile.open(path, "r:xz") as tf:
        for m in tf.getmembers():
            if m.isfile():
                f = tf.extractfile(m)
                assert f is not None
                out[m.name] = f.read()
    return out


@dataclass
class Fold:
    train: list[I64]
    normal: list[I64]  # held-out normal traces, one score each
    attacks: list[list[I64]]  # one unit per entry, scored as its worst trace

    def scored(self) -> list[I64]:
        """Every trace the fold scores: the normal ones, then each attack unit's, in that order."""
        return [*self.normal, *(t for unit in self.attacks for t in unit)]

    def split(self, s: F64) -> tuple[F64, F64]:
        """Scores of :meth:`scored`'s traces -> (normal scores, attack-unit scores).

        Why one place: every scorer family must score an attack unit as its worst
        trace, the same way, or the tables would compare different things.
        """
        n_neg = len(self.normal)
        unit_of = np.repeat(np.arange(len(self.attacks)), [len(u) for u in self.attacks])
        pos = np.full(len(self.attacks), -np.inf)
        np.maximum.at(pos, unit_of, s[n_neg:])
        return s[:n_neg], pos


@dataclass
class Corpus:
    name: str
    folds: list[Fold]
    about: str
    stats: dict[str, int] = field(default_factory=dict)


def _groups(traces: Sequence[I64]) -> list[list[I64]]:
    """Traces grouped by identical content, in order of first appearance."""
    g: dict[bytes, list[I64]] = {}
    for t in traces:
        g.setdefault(t.tobytes(), []).append(t)
    return list(g.values())


def _cv_folds(groups: list[list[I64]], attacks: list[list[I64]], k: int, seeds: Sequence[int]) -> list[Fold]:
    out = []
    for seed in seeds:
        perm = np.random.default_rng(seed).permutation(len(groups))
        for f in range(k):
            test = set(perm[f::k].tolist())
            train = [t for i in range(len(groups)) if i not in test for t in groups[i]]
            out.append(Fold(train, [groups[i][0] for i in sorted(test)], attacks))
    return out


def _unm_files(archive: str, prefix: str) -> dict[str, list[I64]]:
    return {
        Path(p).name: parse_pid_pairs(b.decode())
        for p, b in sorted(_members(archive).items())
        if p.startswith(prefix) and p.endswith(".int")
    }


def load_sendmail(k: int = 5, seeds: Sequence[int] = (0, 1, 2, 3, 4)) -> Corpus:
    normal = _unm_files("unm-sendmail", "unm-sendmail/normal/")
    intrusion = _unm_files("unm-sendmail", "unm-sendmail/intrusion/")
    groups = _groups([t for f in sorted(normal) for t in normal[f]])
    attacks = [list(ts) for _, ts in sorted(intrusion.items())]
    return Corpus(
        "UNM sendmail",
        _cv_folds(groups, attacks, k, seeds),
        f"{k}-fold CV x {len(seeds)} seeds over distinct normal processes; attack unit = intrusion file",
        {"normal_distinct": len(groups), "attack_units": len(attacks)},
    )


def load_lpr(k: int = 5, seeds: Sequence[int] = (0, 1, 2)) -> Corpus:
    files = _unm_files("unm-lpr", "unm-lpr/")
    normal = [t for f in ("lpr-normal-10.int", "lpr-normal-11.int") for t in files[f]]
    groups = _groups(normal)
    attacks = [[g[0]] for g in _groups(files["exploit-unm.int"])]
    return Corpus(
        "UNM live lpr",
        _cv_folds(groups, attacks, k, seeds),
        f"{k}-fold CV x {len(seeds)} seeds over distinct normal processes; "
        "attack unit = distinct exploit process",
        {"normal_distinct": len(groups), "attack_units": len(attacks)},
    )


def load_adfa() -> Corpus:
    mem = _members("adfa-ld")

    def read(sub: str) -> list[I64]:
        return [
            np.array(b.split(), dtype=np.int64)
            for p, b in sorted(mem.items())
            if p.startswith(f"adfa-ld/{sub}/") and p.endswith(".txt")
        ]

    train = read("Training_Data_Master")
    valid = read("Validation_Data_Master")
    attack = read("Attack_Data_Master")
    return Corpus(
        "ADFA-LD",
        [Fold(train, valid, [[t] for t in attack])],
        "published split: train on Training (833), score Validation (4372 normal) and Attack (746) traces",
        {"train": len(train), "normal": len(valid), "attack_units": len(attack)},
    )


def _unm_corpus(archive: str, name: str, k: int, seeds: Sequence[int]) -> Corpus:
    normal = _unm_files(archive, f"{archive}/normal/")
    intrusion = _unm_files(archive, f"{archive}/intrusion/")
    groups = _groups([t for f in sorted(normal) for t in normal[f]])
    attacks = [[g[0]] for g in _groups([t for f in sorted(intrusion) for t in intrusion[f]])]
    return Corpus(
        name,
        _cv_folds(groups, attacks, k, seeds),
        f"{k}-fold CV x {len(seeds)} seeds over distinct normal processes; "
        "attack unit = distinct intrusion process",
        {"normal_distinct": len(groups), "attack_units": len(attacks)},
    )


def load_xlock(k: int = 5, seeds: Sequence[int] = (0, 1, 2)) -> Corpus:
    return _unm_corpus("unm-xlock", "UNM xlock", k, seeds)


def load_ps(k: int = 5, seeds: Sequence[int] = (0, 1, 2)) -> Corpus:
    return _unm_corpus("unm-ps", "UNM live ps", k, seeds)


#: Every corpus takes part in leave-one-corpus-out.  xlock and ps were added after the first three
#: (session 3) and judged the settings chosen on those as fresh data; that result is in the docs,
#: and since then they are ordinary members of the choice.
LOADERS = {"sendmail": load_sendmail, "lpr": load_lpr, "adfa": load_adfa, "xlock": load_xlock, "ps": load_ps}


# --- scorers -------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class SeqConfig:
    """One setting of ``SequenceModel``: what leave-one-corpus-out chooses among."""

    order: int
    novelty: str
    top_k: int
    top_frac: float
    #: offline mode: weight of the ``SyscallSetModel`` score added to the sequence score (0: live)
    set_weight: float = 0.0
    #: "wb" Witten-Bell, "kn" modified Kneser-Ney (``SequenceModel(smoothing=...)``)
    smoothing: str = "wb"

    def label(self) -> str:
        comb = f"top-{self.top_k}" if self.top_frac == 0 else f"top max({self.top_k}, {self.top_frac:g}·n)"
        if self.top_frac == 1:
            comb = "mean"
        extra = f" + {self.set_weight:g} × syscall-set distance" if self.set_weight else ""
        sm = "KN " if self.smoothing == "kn" else ""
        return f"{sm}order {self.order}, {self.novelty}, {comb}{extra}"

    def model(self) -> SequenceModel:
        return SequenceModel(
            order=self.order,
            top_k=self.top_k,
            top_frac=self.top_frac,
            novelty=self.novelty,
            smoothing=self.smoothing,
        )


ORDERS = (3, 4, 6)
TOP_K = (1, 8, 32, 64, 128)
TOP_FRAC = (0.0, 0.1, 0.25, 0.5, 1.0)
GRID = [
    SeqConfig(o, nv, k, q, smoothing=sm)
    for sm in SMOOTHINGS
    for o in ORDERS
    for nv in NOVELTIES
    for k in TOP_K
    for q in TOP_FRAC
    if not (q == 1.0 and k != TOP_K[0])  # the mean does not depend on k
]
#: Offline mode: every live setting plus a weighted syscall-set distance (needs whole traces).
SET_WEIGHTS = (2.0, 4.0, 8.0)
GRID_OFFLINE = [replace(c, set_weight=w) for c in GRID if c.smoothing == "wb" for w in SET_WEIGHTS]
#: The two settings session 3 chose on sendmail, lpr and ADFA-LD (L3's live setting, and the
#: offline one), written down before xlock and ps were loaded; xlock and ps judged them fresh.
L3_SETTING = SeqConfig(4, "last", 64, 0.5)
OFFLINE_SETTING = SeqConfig(6, "mix", 8, 0.1, set_weight=8.0)
STIDE = "stide (n=6)"
FREQ = "frequency"
BASELINES = (STIDE, FREQ)
#: Offline mode 1's term alone (``SyscallSetModel``), measured whenever the offline grid is.
SETS = "syscall-set distance"


def _concat_codes(traces: Sequence[I64]) -> tuple[npt.NDArray[np.uint64], I64]:
    codes = [window_codes(t) for t in traces]
    off = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum([c.size for c in codes], out=off[1:])
    return (np.concatenate(codes) if codes else np.zeros(0, np.uint64)), off


class _Ranked:
    """Novelties of many traces sorted high-to-low within each trace, for every top-m mean at once."""

    def __init__(self, nov: F64, off: I64) -> None:
        lens = np.diff(off)
        seg = np.repeat(np.arange(lens.size), lens)
        # One float sort instead of a lexsort: novelties are >= 0 and far below 2**20 nats, so
        # the trace index in the high part keeps traces apart and the order inside each is by
        # value (ties keep their order; only equal values can tie).
        order = np.argsort(seg * float(1 << 20) - np.minimum(nov, float(1 << 19)), kind="stable")
        self.v = nov[order]
        self.rank = np.arange(nov.size) - np.repeat(off[:-1], lens)
        self.lens = lens
        self.seg = seg
        self.nonempty = lens > 0
        self.starts = off[:-1][self.nonempty]

    def top_mean(self, k: int, q: float) -> F64:
        """Per trace: mean of the max(k, ceil(q*n)) largest (all of them if fewer); 0.0 if empty."""
        m = np.minimum(self.lens, np.maximum(k, np.ceil(q * self.lens - 1e-9).astype(np.int64)))
        keep = self.rank < m[self.seg]
        out = np.zeros(self.lens.size)
        if self.starts.size:
            # reduceat sums each trace's values in the same order, so identical traces tie exactly.
            sums = np.add.reduceat(np.where(keep, self.v, 0.0), self.starts)
            out[self.nonempty] = sums / m[self.nonempty]
        return out


def _fold_scores(fold: Fold, cfgs: Sequence[SeqConfig]) -> dict[object, tuple[F64, F64]]:
    """(normal scores, attack-unit scores) of every scorer on one fold."""
    traces = fold.scored()
    codes, off = _concat_codes(traces)
    split = fold.split

    out: dict[object, tuple[F64, F64]] = {}
    st = StideModel(6).fit(fold.train)
    out[STIDE] = split(np.array([st.score(t) for t in traces]))
    # The frequency baseline: order-1 model, whole-trace mean = cross-entropy of the trace's
    # syscall frequencies under the training frequencies (order of calls ignored).
    freq = SequenceModel(order=1, top_frac=1.0).fit(fold.train)
    out[FREQ] = split(_Ranked(freq.code_novelty(codes & np.uint64(1023)), off).top_mean(1, 1.0))
    sets = None
    if any(c.set_weight for c in cfgs):
        sets = SyscallSetModel().fit(fold.train).score_many(traces)
        out[SETS] = split(sets)
    for sm, o in sorted({(c.smoothing, c.order) for c in cfgs}):
        m = SequenceModel(order=o, smoothing=sm).fit(fold.train)
        for nv in NOVELTIES:
            sel = [c for c in cfgs if c.smoothing == sm and c.order == o and c.novelty == nv]
            if not sel:
                continue
            m.novelty = nv
            ranked = _Ranked(m.code_novelty(codes), off)
            for c in sel:
                s = ranked.top_mean(c.top_k, c.top_frac)
                if c.set_weight:
                    assert sets is not None
                    s = s + c.set_weight * sets
                out[c] = split(s)
    return out


@dataclass
class Figures:
    auc: float  # mean over folds
    auc_worst: float
    far90: float  # mean over folds
    far90_worst: float
    folds: int


def evaluate_corpus(corpus: Corpus, cfgs: Sequence[SeqConfig] = GRID + GRID_OFFLINE) -> dict[object, Figures]:
    return figures_over_folds(_fold_scores(fold, cfgs) for fold in corpus.folds)


def figures_over_folds(per_fold: Iterable[Mapping[object, tuple[F64, F64]]]) -> dict[object, Figures]:
    """One Figures per scorer from each fold's (normal, attack) scores: the GRU table shares it."""
    rows: dict[object, list[tuple[float, float]]] = {}
    for scores in per_fold:
        for key, (neg, pos) in scores.items():
            rows.setdefault(key, []).append((auc(neg, pos), far_at_detection(neg, pos)))
    out = {}
    for key, r in rows.items():
        a = np.array(r)
        out[key] = Figures(
            float(a[:, 0].mean()), float(a[:, 0].min()), float(a[:, 1].mean()), float(a[:, 1].max()), len(r)
        )
    return out


Results = dict[str, dict[object, Figures]]


def criterion(results: Results, corpora: Sequence[str], cfg: SeqConfig) -> tuple[float, float]:
    """How well ``cfg`` beats stide on ``corpora``: (worst AUC margin, minus the worst FAR excess).

    Maximised lexicographically: a setting is as good as its worst corpus, because the point is
    that it must hold on a corpus nobody tuned it on.
    """
    margin = min(results[c][cfg].auc - results[c][STIDE].auc for c in corpora)
    excess = max(results[c][cfg].far90 - results[c][STIDE].far90 for c in corpora)
    return (round(margin, 6), -round(excess, 6))


def choose(results: Results, corpora: Sequence[str], cfgs: Sequence[SeqConfig] = GRID) -> SeqConfig:
    """The setting with the best ``criterion`` on ``corpora`` (ties: the earliest in ``cfgs``)."""
    best = cfgs[0]
    for c in cfgs[1:]:
        if criterion(results, corpora, c) > criterion(results, corpora, best):
            best = c
    return best


def leave_one_corpus_out(results: Results, cfgs: Sequence[SeqConfig] = GRID) -> dict[str, SeqConfig]:
    """For each corpus, the setting chosen on all the others."""
    names = list(results)
    return {held: choose(results, [n for n in names if n != held], cfgs) for held in names}


def load_all(names: Sequence[str] | None = None) -> dict[str, Corpus]:
    return {n: LOADERS[n]() for n in (names or LOADERS)}


def run(names: Sequence[str] | None = None) -> tuple[dict[str, Corpus], Results]:
    corpora = load_all(names)
    return corpora, {n: evaluate_corpus(c) for n, c in corpora.items()}


def _fmt(f: Figures) -> str:
    return f"{f.auc:.3f} | {f.far90:.3f} | {f.auc_worst:.3f}"


def acceptance(results: Results, corpus: str, cfg: object) -> str:
    """Issue 15's bar on one corpus: AUC >= stide's + 0.02 and FAR@90 no worse than stide's.

    Where stide's AUC is above 0.98 the bar asks for an AUC above 1, which no scorer can have:
    that is reported as infeasible, not met by redefining it.
    """
    st, f = results[corpus][STIDE], results[corpus][cfg]
    if st.auc + 0.02 > 1.0:
        return f"infeasible (stide {st.auc:.3f}: +0.02 is above 1)"
    ok = f.auc >= st.auc + 0.02 and f.far90 <= st.far90
    return "met" if ok else "not met"


def meets_bar(results: Results, corpus: str, cfg: object) -> bool:
    """Issue 15's bar on ``corpus`` (AUC >= stide + 0.02, FAR@90 <= stide's), whatever chose ``cfg``."""
    st, f = results[corpus][STIDE], results[corpus][cfg]
    return f.auc >= st.auc + 0.02 and f.far90 <= st.far90


def in_sample_view(results: Results, corpus: str, cfgs: Sequence[SeqConfig]) -> tuple[int, SeqConfig | None]:
    """How many of ``cfgs`` meet the bar on ``corpus`` in-sample, and the best of those on the others.

    A diagnostic, never a reported figure: it says whether the bar on a corpus fails because no
    setting reaches it at all, or because the other corpora do not choose one that does.
    """
    ok = [c for c in cfgs if meets_bar(results, corpus, c)]
    if not ok:
        return 0, None
    others = [n for n in results if n != corpus]
    return len(ok), choose(results, others, ok)


def report(corpora: dict[str, Corpus], results: Results, shipped: SeqConfig) -> Iterator[str]:
    loco = leave_one_corpus_out(results)
    kn_only = [c for c in GRID if c.smoothing == "kn"]
    loco_kn = leave_one_corpus_out(results, kn_only)
    offline = GRID + GRID_OFFLINE
    loco_off = leave_one_corpus_out(results, offline)
    every = choose(results, list(results))
    every_off = choose(results, list(results), offline)
    yield "| corpus | scorer | setting | AUC | FAR@90%DR | AUC worst fold |"
    yield "|---|---|---|---|---|---|"
    for n, c in corpora.items():
        r = results[n]
        yield f"| {c.name} | stide | n = 6 | {_fmt(r[STIDE])} |"
        yield f"| {c.name} | frequency | syscall histogram cross-entropy | {_fmt(r[FREQ])} |"
        if SETS in r:
            yield f"| {c.name} | syscall-set distance alone (offline) | Jaccard | {_fmt(r[SETS])} |"
        rows = (
            ("**chosen without this corpus**", loco[n]),
            ("Kneser-Ney only, chosen without this corpus", loco_kn[n]),
            ("L3's setting", shipped),
            ("chosen on all corpora (in-sample)", every),
            ("old default (chosen on sendmail)", old_default()),
            ("offline mode, chosen without this corpus", loco_off[n]),
        )
        for what, cfg in rows:
            yield f"| {c.name} | {what} | {cfg.label()} | {_fmt(r[cfg])} |"
    yield ""
    yield "| corpus | acceptance with the setting chosen without it | with L3's setting |"
    yield "|---|---|---|"
    for n, c in corpora.items():
        yield f"| {c.name} | {acceptance(results, n, loco[n])} | {acceptance(results, n, shipped)} |"
    yield ""
    yield "in-sample (a diagnostic): settings of the live + offline grids that meet the bar on a corpus,"
    yield "and the best of those on the other corpora (margin over stide per corpus)"
    for n in corpora:
        count, best = in_sample_view(results, n, offline)
        if best is None:
            yield f"  {n}: none of {len(offline)}"
            continue
        margins = ", ".join(
            f"{m} {results[m][best].auc - results[m][STIDE].auc:+.3f}" for m in corpora if m != n
        )
        yield f"  {n}: {count} of {len(offline)}; best elsewhere {best.label()}: {margins}"
    yield f"chosen on all corpora: {every.label()}, criterion {criterion(results, list(results), every)}"
    crit_off = criterion(results, list(results), every_off)
    yield f"offline, chosen on all corpora: {every_off.label()}, criterion {crit_off}"
    for grid, chosen in (("live", loco), ("Kneser-Ney", loco_kn), ("offline", loco_off)):
        for n in corpora:
            others = [m for m in corpora if m != n]
            pick = chosen[n]
            yield (
                f"{grid}, chosen without {n}: {pick.label()}; on the others criterion "
                f"{criterion(results, others, pick)}; on {n} criterion {criterion(results, [n], pick)}"
            )


def shipped_config() -> SeqConfig:
    """The setting L3 ships with (the defaults of ``[detect.l3]``)."""
    m = L3Settings().sequence_model()
    return SeqConfig(m.order, m.novelty, m.top_k, m.top_frac, smoothing=m.smoothing)


def old_default() -> SeqConfig:
    """``SequenceModel()``'s own defaults: the top-8 picked on UNM sendmail alone (issue 15)."""
    m = SequenceModel()
    return SeqConfig(m.order, m.novelty, m.top_k, m.top_frac)


def corpus_args_refused(prog: str, args: Sequence[str]) -> bool:
    """True (after one line on stderr) if ``args`` are not corpus names leave-one-corpus-out can use.

    Shared by the three evaluation scripts, so each refuses bad input in the same words.
    """
    bad = [a for a in args if a not in LOADERS]
    if bad:
        print(f"{prog}: unknown corpus {bad[0]!r} (known: {', '.join(LOADERS)})", file=sys.stderr)
        return True
    if len(set(args)) == 1:
        print(f"{prog}: leave-one-corpus-out needs at least two corpora", file=sys.stderr)
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if corpus_args_refused("sequence_eval", args):
        return 2
    names = args or None
    try:
        corpora, results = run(names)
    except (OSError, ValueError, tarfile.TarError) as e:
        print(f"sequence_eval: {e}", file=sys.stderr)
        return 1
    for c in corpora.values():
        print(f"{c.name}: {c.about}; {c.stats}")
    print()
    out = io.StringIO()
    for line in report(corpora, results, shipped_config()):
        print(line, file=out)
    print(out.getvalue(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
