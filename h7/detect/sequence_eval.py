"""Evaluation protocol for the sequence models on the UNM sendmail traces.

Shared by tests/test_sequence.py and docs/sequence-model.md (``python -m h7.detect.sequence_eval``
prints the table), so the numbers in the docs are the ones the test checks.

Why the protocol looks like this:

* The 199 normal processes hold only 43 distinct sequences (one 7-call sequence occurs 51 times).
  Splitting processes at random would put copies of a test trace in the training set and make
  every model look perfect, so folds are made over *distinct* sequences: all copies of a
  sequence go to the same side, and each held-out sequence is scored once.
* An intrusion file is one attacked run of several processes, and some of those processes are
  ordinary sendmail children (five are byte-identical to normal traces).  The label belongs to
  the run, so the primary unit for intrusions is the file, scored as its most anomalous process:
  that is how an operator would be alerted.  As a stricter check, ``pid`` mode scores each
  intrusion process separately (minus the known-benign identical ones) as if all were attacks.
* 5-fold cross-validation over the distinct normal sequences, repeated with 5 seeds; AUC and the
  false-alarm rate at 90 % detection are computed per fold and averaged (the worst fold is also
  reported), so one lucky split cannot carry the result.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


class _Model(Protocol):
    def fit(self, traces: Sequence[I64]) -> object: ...

    def score(self, trace: I64) -> float: ...


def default_data_dir() -> Path:
    """``../shared/data/unm-sendmail`` beside the repository root (CI clones shared/ there)."""
    env = os.environ.get("H7_UNM_SENDMAIL")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "data" / "unm-sendmail"


def load_pid_traces(path: Path) -> list[I64]:
    """One syscall array per PID, in order of first appearance (processes are interleaved)."""
    a = np.array(path.read_text().split(), dtype=np.int64).reshape(-1, 2)
    pids, first = np.unique(a[:, 0], return_index=True)
    order = np.argsort(first, kind="stable")
    # A stable sort by pid keeps each process's syscalls in file order.
    by_pid = np.argsort(a[:, 0], kind="stable")
    sorted_pids = a[by_pid, 0]
    bounds = np.searchsorted(sorted_pids, pids)
    ends = np.append(bounds[1:], a.shape[0])
    return [a[by_pid[bounds[i] : ends[i]], 1].copy() for i in order]


@dataclass
class UnmData:
    normal: dict[str, list[I64]]
    intrusion: dict[str, list[I64]]

    def normal_groups(self) -> list[list[I64]]:
        """Normal processes grouped by identical content, in a deterministic order."""
        groups: dict[bytes, list[I64]] = {}
        for name in sorted(self.normal):
            for t in self.normal[name]:
                groups.setdefault(t.tobytes(), []).append(t)
        return list(groups.values())


def load_unm(root: Path) -> UnmData:
    def load(sub: str) -> dict[str, list[I64]]:
        files = sorted((root / sub).glob("*.int"))
        if not files:
            raise FileNotFoundError(f"no {sub}/*.int under {root}")
        return {f.name: load_pid_traces(f) for f in files}

    return UnmData(normal=load("normal"), intrusion=load("intrusion"))


def auc(neg: Sequence[float], pos: Sequence[float]) -> float:
    """ROC AUC as the Mann-Whitney probability that an intrusion outranks a normal; ties count 1/2."""
    n = np.asarray(neg, dtype=np.float64)
    p = np.asarray(pos, dtype=np.float64)
    gt = (p[:, None] > n[None, :]).sum()
    eq = (p[:, None] == n[None, :]).sum()
    return float((gt + 0.5 * eq) / (p.size * n.size))


def far_at_detection(neg: Sequence[float], pos: Sequence[float], rate: float = 0.9) -> float:
    """Fraction of normals alarmed at the highest threshold that still detects ``rate`` of intrusions.

    Alarm means score >= threshold, so normals tied with the threshold count as false alarms.
    """
    p = np.sort(np.asarray(pos, dtype=np.float64))[::-1]
    need = max(1, math.ceil(rate * p.size - 1e-9))
    thr = p[need - 1]
    return float(np.mean(np.asarray(neg, dtype=np.float64) >= thr))


def tie_rate(neg: Sequence[float], pos: Sequence[float]) -> float:
    n = np.asarray(neg, dtype=np.float64)
    p = np.asarray(pos, dtype=np.float64)
    return float((p[:, None] == n[None, :]).mean())


def folds(groups: Sequence[list[I64]], k: int, seed: int) -> Iterator[tuple[list[I64], list[I64]]]:
    """(train: every copy of the training groups, test: one copy of each held-out group)."""
    perm = np.random.default_rng(seed).permutation(len(groups))
    for f in range(k):
        test = set(perm[f::k].tolist())
        train = [t for g in range(len(groups)) if g not in test for t in groups[g]]
        yield train, [groups[g][0] for g in sorted(test)]


def evaluate(
    data: UnmData,
    factories: dict[str, Callable[[], _Model]],
    k: int = 5,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    unit: str = "file",
) -> dict[str, dict[str, float]]:
    """Per-model mean/worst AUC, mean/worst FAR at 90 % detection, and tie rate over all folds."""
    groups = data.normal_groups()
    known = {t.tobytes() for g in groups for t in g}
    if unit == "file":
        positives = [list(ts) for _, ts in sorted(data.intrusion.items())]
    elif unit == "pid":
        positives = [[t] for _, ts in sorted(data.intrusion.items()) for t in ts if t.tobytes() not in known]
    else:
        raise ValueError(f"unit must be 'file' or 'pid', not {unit!r}")
    per: dict[str, list[tuple[float, float, float]]] = {name: [] for name in factories}
    for seed in seeds:
        for train, test in folds(groups, k, seed):
            for name, make in factories.items():
                m = make()
                m.fit(train)
                neg = [m.score(t) for t in test]
                pos = [max(m.score(t) for t in run) for run in positives]
                per[name].append((auc(neg, pos), far_at_detection(neg, pos), tie_rate(neg, pos)))
    out: dict[str, dict[str, float]] = {}
    for name, rows in per.items():
        a = np.array(rows)
        out[name] = {
            "auc_mean": float(a[:, 0].mean()),
            "auc_min": float(a[:, 0].min()),
            "far90_mean": float(a[:, 1].mean()),
            "far90_max": float(a[:, 1].max()),
            "tie_rate": float(a[:, 2].mean()),
            "folds": float(a.shape[0]),
        }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from h7.detect.sequence import SequenceModel, StideModel

    args = list(sys.argv[1:] if argv is None else argv)
    root = Path(args[0]) if args else default_data_dir()
    data = load_unm(root)
    factories: dict[str, Callable[[], _Model]] = {"SequenceModel": SequenceModel, "stide (k=6)": StideModel}
    print("| unit | model | AUC mean | AUC worst fold | FAR@90%DR mean | FAR@90%DR worst | tied pairs |")
    print("|---|---|---|---|---|---|---|")
    for unit in ("file", "pid"):
        res = evaluate(data, factories, unit=unit)
        for name, r in res.items():
            print(
                f"| {unit} | {name} | {r['auc_mean']:.3f} | {r['auc_min']:.3f} | {r['far90_mean']:.3f} "
                f"| {r['far90_max']:.3f} | {r['tie_rate']:.3f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
