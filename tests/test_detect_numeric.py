"""The channels' numerical routines (h7.detect.numeric) against SciPy, the reference.

The sensor does not import SciPy (its three modules would cost tens of MB of
resident memory); these tests are where SciPy vouches for the replacements.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import jensenshannon
from scipy.special import gammaincinv, rel_entr

from h7.detect.numeric import gammaincinv_int, jsd_bits, scc_labels


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 13, 30, 100, 400, 2000])
@pytest.mark.parametrize("q", [1e-6, 0.01, 0.25, 0.5, 0.9, 0.999999])
def test_gammaincinv_matches_scipy(k: int, q: float) -> None:
    assert gammaincinv_int(k, q) == pytest.approx(float(gammaincinv(k, q)), rel=1e-9)


def test_gammaincinv_refuses_what_it_cannot_answer() -> None:
    for k, q in ((0, 0.5), (3, 0.0), (3, 1.0)):
        with pytest.raises(ValueError):
            gammaincinv_int(k, q)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0, 1e6), min_size=8, max_size=8),
    st.lists(st.floats(0, 1e6), min_size=8, max_size=8),
)
def test_jsd_matches_scipy(a: list[float], b: list[float]) -> None:
    p, q = np.array(a) + 1e-3, np.array(b) + 1e-3  # the channel always smooths: no all-zero vector
    assert jsd_bits(p, q) == pytest.approx(_scipy_jsd_bits(p, q), abs=1e-9)


def _scipy_jsd_bits(p: np.ndarray, q: np.ndarray) -> float:
    """SciPy's Jensen-Shannon divergence before its square root.

    ``jensenshannon`` returns sqrt(JSD), and for two nearly equal vectors its
    rounding can leave the JSD a hair below zero, so it returns NaN (hypothesis
    found p = q + 2e-16 in one element).  This is the same sum SciPy takes
    (``rel_entr`` against the midpoint, halved, in bits), without the root.
    """
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2.0
    return float((rel_entr(p, m).sum() + rel_entr(q, m).sum()) / 2.0 / np.log(2.0))


def test_scipy_reference_is_scipys_jensenshannon() -> None:
    """The reference above is jensenshannon squared wherever SciPy's root is defined."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        p, q = rng.random(8) + 1e-3, rng.random(8) + 1e-3
        assert _scipy_jsd_bits(p, q) == pytest.approx(float(jensenshannon(p, q, base=2.0) ** 2), abs=1e-12)


def test_jsd_bounds() -> None:
    assert jsd_bits(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert jsd_bits(np.array([2.0, 3.0]), np.array([4.0, 6.0])) == pytest.approx(0.0, abs=1e-12)


def _partition(labels: list[int] | np.ndarray) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for i, lab in enumerate(list(labels)):
        groups.setdefault(int(lab), set()).add(i)
    return {frozenset(g) for g in groups.values()}


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 40).flatmap(
        lambda n: st.tuples(
            st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=120)
        )
    )
)
def test_scc_matches_scipy(case: tuple[int, list[tuple[int, int]]]) -> None:
    n, edges = case
    src = [a for a, _ in edges]
    dst = [b for _, b in edges]
    mat = csr_matrix((np.ones(len(edges), dtype=np.int8), (src, dst)), shape=(n, n))
    _, ref = connected_components(mat, directed=True, connection="strong")
    assert _partition(scc_labels(n, src, dst)) == _partition(ref)


def test_scc_long_chain_has_no_recursion_limit() -> None:
    n = 50_000
    src = [*range(n - 1), n - 1]
    dst = [*range(1, n), 0]  # one big cycle
    assert len(set(scc_labels(n, src, dst))) == 1
    assert len(set(scc_labels(n, src[:-1], dst[:-1]))) == n  # a chain: every node alone
