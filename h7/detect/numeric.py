"""The three numerical routines the channels need, without SciPy in the sensor process.

SciPy is the reference (tests/test_detect_numeric.py compares every routine
with it), but importing the three SciPy modules these come from costs the
long-running sensor ~40 MB of resident memory (``docs/performance.md``), more
than the whole rest of the detector.  Each routine here is small, exact for
the inputs the channels give it, and bounded in time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np


def jsd_bits(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits of two count/probability vectors (normalised here).

    Equals ``scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2``.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum()
    q = q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


def _gamma_upper_regularized_int(k: int, x: float) -> float:
    """Q(k, x) = e^-x * sum_{i<k} x^i / i! for integer k >= 1 (log-sum-exp, no underflow)."""
    if x <= 0.0:
        return 1.0
    lx = math.log(x)
    terms = [i * lx - math.lgamma(i + 1) - x for i in range(k)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


@functools.lru_cache(maxsize=512)
def gammaincinv_int(k: int, q: float) -> float:
    """x with P(k, x) = q, for integer shape ``k`` >= 1 and 0 < q < 1 (``scipy.special.gammaincinv``).

    Bisection on the closed form of the integer-shape gamma CDF: 200 halvings
    of a bracket reach the float resolution whatever ``k`` is.  Memoised: the
    threshold calibrations call it with the same few (k, 0.25) over and over
    (L1's size-aware thresholds, a dozen per agent at the end of its
    baseline, on the batch path), and each call is ~200 k-term sums.
    """
    if k < 1 or not 0.0 < q < 1.0:
        raise ValueError("gammaincinv_int needs k >= 1 and 0 < q < 1")
    lo, hi = 0.0, max(1.0, 2.0 * k)
    while 1.0 - _gamma_upper_regularized_int(k, hi) < q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 1.0 - _gamma_upper_regularized_int(k, mid) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return 0.5 * (lo + hi)


def scc_labels(n: int, src: Sequence[int], dst: Sequence[int]) -> list[int]:
    """Strongly connected component label of each of ``n`` nodes (Tarjan, iterative).

    Labels are component ids, equal for nodes in one component; which id a
    component gets is unspecified (as with ``scipy.sparse.csgraph``).
    Iterative so a long chain cannot hit Python's recursion limit.
    """
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(src, dst, strict=True):
        adj[a].append(b)
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    label = [-1] * n
    stack: list[int] = []
    counter = 0
    comp = 0
    for root in range(n):
        if index[root] != -1:
            continue
        work: list[tuple[int, int]] = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, i = work[-1]
            if i < len(adj[v]):
                work[-1] = (v, i + 1)
                w = adj[v][i]
                if index[w] == -1:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    label[w] = comp
                    if w == v:
                        break
                comp += 1
    return label
