"""Sequence model: API behaviour, agreement with brute-force references, and the UNM evaluation."""

from __future__ import annotations

import math
from collections import Counter

import msgpack
import numpy as np
import pytest

import h7.detect.sequence as seqmod
from h7.detect.sequence import (
    TOKEN_BITS,
    WINDOW_LEN,
    WINDOW_MASK,
    SequenceModel,
    StideModel,
    SyscallSetModel,
    code_depth,
    window_codes,
)


def _motif_traces(seed: int, n: int, length: int) -> list[np.ndarray]:
    """Traces built from a few fixed syscall "code paths", so they have real sequential structure."""
    rng = np.random.default_rng(seed)
    motifs = [rng.choice(np.arange(0, 60), size=rng.integers(3, 9)) for _ in range(12)]
    out = []
    for _ in range(n):
        picks = rng.integers(0, len(motifs), size=length)
        out.append(np.concatenate([motifs[i] for i in picks]).astype(np.int64))
    return out


@pytest.fixture(scope="module")
def train() -> list[np.ndarray]:
    return _motif_traces(0, 20, 40)


@pytest.fixture(scope="module")
def model(train: list[np.ndarray]) -> SequenceModel:
    return SequenceModel().fit(train)


# --- API behaviour ---------------------------------------------------------------------------------


def test_lazy_top_level_import() -> None:
    import h7

    assert h7.SequenceModel is SequenceModel


def test_empty_and_short_traces(model: SequenceModel) -> None:
    assert model.score(np.zeros(0, dtype=np.int64)) == 0.0
    assert model.score([]) == 0.0
    assert model.window_novelty([]).shape == (0,)
    for n in (1, 2, 5):
        tr = np.arange(n, dtype=np.int64)
        nov = model.window_novelty(tr)
        assert nov.shape == (n,)
        assert np.all(np.isfinite(nov)) and np.all(nov >= 0)
        assert math.isfinite(model.score(tr))


def test_training_shorter_than_the_windows() -> None:
    m = SequenceModel().fit([np.array([5]), np.array([1, 2])])
    nov = m.window_novelty([1, 2, 5, 1, 2, 9])
    assert nov.shape == (6,) and np.all(np.isfinite(nov))
    assert nov[1] < nov[5]  # "1, 2" was seen, 9 never was


def test_unseen_syscalls_are_anomalous_and_never_crash(model: SequenceModel, train: list[np.ndarray]) -> None:
    normal = train[0][:200].copy()
    base = model.score(normal)
    for odd in (-1, 333, 460, 5000, -7):  # never seen; 5000 and -7 are outside the 10-bit alphabet
        tr = normal.copy()
        tr[100:103] = odd
        assert model.score(tr) > base
    # Window novelty pinpoints the injected calls.
    tr = normal.copy()
    tr[100] = 333
    assert int(np.argmax(model.window_novelty(tr))) in range(100, 106)
    pos, nov = model.top_windows(tr, k=3)
    assert pos.shape == (3,) and nov[0] >= nov[1] >= nov[2]
    assert int(pos[0]) in range(100, 106)


def test_linux_numbers_and_minus_one_round_trip() -> None:
    rng = np.random.default_rng(3)
    tr = rng.choice(np.array([-1, 0, 1, 59, 231, 435, 460]), size=5000)
    m = SequenceModel().fit([tr])
    assert m.score(tr) < m.score(tr[::-1].copy())  # reversed order is news, same alphabet


def test_bad_input_is_refused(model: SequenceModel) -> None:
    with pytest.raises(TypeError):
        model.score(np.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        model.score(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError):
        SequenceModel().fit([])
    with pytest.raises(ValueError):
        SequenceModel().fit([np.zeros(0, dtype=np.int64)])
    with pytest.raises(RuntimeError):
        SequenceModel().score([1, 2, 3])
    with pytest.raises(ValueError):
        SequenceModel(order=7)
    with pytest.raises(RuntimeError):
        StideModel().score([1, 2, 3])


def test_deterministic(train: list[np.ndarray]) -> None:
    a = SequenceModel().fit(train)
    b = SequenceModel().fit(iter([t.copy() for t in train]))  # any iterable, e.g. a generator
    assert msgpack.packb(a.to_state()) == msgpack.packb(b.to_state())
    probe = _motif_traces(9, 5, 60)
    assert a.score_many(probe).tolist() == b.score_many(probe).tolist()


def test_state_round_trip_is_exact(model: SequenceModel) -> None:
    blob = msgpack.packb(model.to_state(), use_bin_type=True)
    back = SequenceModel.from_state(msgpack.unpackb(blob, raw=False))
    probe = [*_motif_traces(7, 5, 50), np.array([1, 2, 999, -1, 3], dtype=np.int64)]
    for tr in probe:
        assert back.score(tr) == model.score(tr)
        np.testing.assert_array_equal(back.window_novelty(tr), model.window_novelty(tr))
    assert back.order == model.order and back.top_k == model.top_k

    st = StideModel().fit(_motif_traces(1, 5, 40))
    st2 = StideModel.from_state(msgpack.unpackb(msgpack.packb(st.to_state(), use_bin_type=True), raw=False))
    assert [st2.score(t) for t in probe] == [st.score(t) for t in probe]
    with pytest.raises(ValueError):
        SequenceModel.from_state(st.to_state())


def test_history_joins_batches(model: SequenceModel) -> None:
    tr = _motif_traces(5, 1, 100)[0]
    whole = model.window_novelty(tr)
    a, b = tr[:137], tr[137:]
    np.testing.assert_allclose(model.window_novelty(b, history=a), whole[137:], rtol=0, atol=1e-12)
    # Without history the first positions lose context, later ones do not.
    cut = model.window_novelty(b)
    np.testing.assert_allclose(cut[5:], whole[137 + 5 :], rtol=0, atol=1e-12)


def test_chunking_does_not_change_results(train: list[np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    long = np.concatenate(_motif_traces(11, 3, 300))
    ref = SequenceModel().fit(train)
    ref_nov, ref_score = ref.window_novelty(long), ref.score(long)
    st = StideModel().fit(train)
    ref_mis = st.mismatches(long)

    monkeypatch.setattr(seqmod, "_CHUNK", 7)
    small = SequenceModel().fit(train)
    assert msgpack.packb(small.to_state()) == msgpack.packb(ref.to_state())
    np.testing.assert_allclose(small.window_novelty(long), ref_nov, rtol=0, atol=1e-12)
    assert small.score(long) == pytest.approx(ref_score, abs=1e-12)
    np.testing.assert_array_equal(StideModel().fit(train).mismatches(long), ref_mis)


def test_table_cap_bounds_memory() -> None:
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 400, size=20_000) for _ in range(3)]
    m = SequenceModel(max_ngrams=1000).fit(noise)
    assert all(t.keys.size <= 1000 for t in m._tables)
    assert math.isfinite(m.score(noise[0]))


def test_scoring_memory_does_not_grow_with_the_trace(model: SequenceModel) -> None:
    import tracemalloc

    long = np.tile(np.concatenate(_motif_traces(4, 4, 50)), 3000)[:3_000_000]
    tracemalloc.start()
    try:
        model.score(long)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # One block of scratch (~34 MB); anything proportional to 3M syscalls would be >= 96 MB.
    assert peak < 64 * 2**20


def _ref_novelty(train: list[np.ndarray], trace: np.ndarray, order: int) -> list[float]:
    """Witten-Bell order mixture written the slow, obvious way."""
    grams: list[Counter[tuple[int, ...]]] = [Counter() for _ in range(order + 1)]
    for tr in train:
        s = tr.tolist()
        for n in range(1, order + 1):
            grams[n].update(tuple(s[i : i + n]) for i in range(len(s) - n + 1))
    total: list[Counter[tuple[int, ...]]] = [Counter() for _ in range(order + 1)]
    types: list[Counter[tuple[int, ...]]] = [Counter() for _ in range(order + 1)]
    for n in range(1, order + 1):
        for g, c in grams[n].items():
            total[n][g[:-1]] += c
            types[n][g[:-1]] += 1
    p0 = 1.0 / (len(grams[1]) + 1)
    s = trace.tolist()
    out = []
    for t in range(len(s)):
        p, acc, k = p0, 0.0, 0
        for n in range(1, order + 1):
            if t - n + 1 < 0:
                break
            g = tuple(s[t - n + 1 : t + 1])
            tot, typ = total[n][g[:-1]], types[n][g[:-1]]
            if tot > 0:
                p = (grams[n][g] + typ * p) / (tot + typ)
            acc -= math.log(p)
            k += 1
        out.append(acc / k)
    return out


def test_sequence_model_matches_bruteforce_reference() -> None:
    rng = np.random.default_rng(42)
    train = [rng.integers(-1, 12, size=int(rng.integers(1, 80))) for _ in range(15)]
    probe = np.concatenate([train[0][:30], rng.integers(-1, 15, size=40)])
    for order in (1, 3, 6):
        m = SequenceModel(order=order).fit(train)
        np.testing.assert_allclose(m.window_novelty(probe), _ref_novelty(train, probe, order), rtol=1e-12)
        top = sorted(_ref_novelty(train, probe, order))[-m.top_k :]
        assert m.score(probe) == pytest.approx(sum(top) / len(top), rel=1e-12)


# --- window codes: the kernel's definition ---------------------------------------------------------

# Syscall numbers at and around every edge of the token map, plus extremes of the integer types.
_EDGES = [-(2**63), -7, -2, -1, 0, 1, 2, 59, 460, 1019, 1020, 1021, 1022, 1023, 5000, 2**31, 2**63 - 1]


def _ref_tok(nr: int) -> int:
    return nr + 2 if -1 <= nr <= 1020 else 1023


def _ref_codes(trace: list[int], history: int = 0) -> list[int]:
    """The rolling definition the kernel implements, one syscall at a time."""
    w, out = history, []
    for nr in trace:
        w = ((w << 10) | _ref_tok(nr)) & ((1 << 60) - 1)
        out.append(w)
    return out


def _ref_depth(code: int) -> int:
    d = 0
    while d < 6 and (code >> (10 * d)) & 1023:
        d += 1
    return d


def _random_trace(rng: np.random.Generator, size: int) -> np.ndarray:
    """Mostly small syscall numbers (so windows repeat), with the edge cases mixed in."""
    tr = rng.integers(-1, 8, size=size)
    odd = rng.random(size) < 0.2
    tr[odd] = rng.choice(np.array(_EDGES, dtype=np.int64), size=int(odd.sum()))
    return tr


def test_constants() -> None:
    assert (TOKEN_BITS, WINDOW_LEN, WINDOW_MASK) == (10, 6, (1 << 60) - 1)


@pytest.mark.parametrize("chunk", [7, 1 << 18])
def test_window_codes_match_the_rolling_definition(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seqmod, "_CHUNK", chunk)
    rng = np.random.default_rng(17)
    for size in (0, 1, 2, 5, 6, 7, 30, 200):
        tr = _random_trace(rng, size)
        got = window_codes(tr)
        assert got.dtype == np.uint64 and got.shape == (size,)
        assert got.tolist() == _ref_codes(tr.tolist())
        # Continuing from a code: 0 (thread start), shallow ones, a full one, the all-ones mask.
        for history in (0, 3, _ref_codes([4, 9])[-1], _ref_codes([5000, 1, 2, 3, 4, 5, 6])[-1], WINDOW_MASK):
            assert window_codes(tr, history=history).tolist() == _ref_codes(tr.tolist(), history)
    # Coding a thread batch by batch, each batch continuing from the previous one's last code.
    tr = _random_trace(rng, 100)
    whole = window_codes(tr)
    a, b = window_codes(tr[:37]), window_codes(tr[37:], history=int(window_codes(tr[:37])[-1]))
    np.testing.assert_array_equal(np.concatenate((a, b)), whole)


def test_window_codes_of_the_edges() -> None:
    tr = np.array(_EDGES, dtype=np.int64)
    assert (window_codes(tr) & np.uint64(1023)).tolist() == [_ref_tok(nr) for nr in _EDGES]
    assert window_codes(tr).tolist() == _ref_codes(_EDGES)
    # The first syscall's code is just its token; the sixth fills the window, the seventh shifts.
    assert window_codes([0]).tolist() == [2]
    assert window_codes([-1, 0, 1, 2, 3, 4, 5]).tolist()[-2:] == [
        (1 << 50) | (2 << 40) | (3 << 30) | (4 << 20) | (5 << 10) | 6,
        (2 << 50) | (3 << 40) | (4 << 30) | (5 << 20) | (6 << 10) | 7,
    ]
    # Unsigned and narrow input: compared before any cast, so nothing wraps into range.
    big = np.array([0, 1020, 1021, 2**63, 2**64 - 1], dtype=np.uint64)
    assert (window_codes(big) & np.uint64(1023)).tolist() == [2, 1022, 1023, 1023, 1023]
    assert window_codes(np.array([-1, 100], dtype=np.int8)).tolist() == _ref_codes([-1, 100])
    assert window_codes(np.array([255], dtype=np.uint8)).tolist() == [257]


def test_window_codes_refuse_bad_input() -> None:
    with pytest.raises(TypeError):
        window_codes(np.array([1.0]))
    with pytest.raises(ValueError):
        window_codes(np.zeros((2, 2), dtype=np.int64))
    for bad in (-1, WINDOW_MASK + 1):
        with pytest.raises(ValueError):
            window_codes([1], history=bad)
    with pytest.raises(TypeError):
        window_codes([1], history=1.0)  # type: ignore[arg-type]


def test_code_depth() -> None:
    assert code_depth([]).shape == (0,)
    codes = [0, 5, 5 << 10, (5 << 10) | 7, (3 << 50) | 7, WINDOW_MASK, (1 << 60) - (1 << 10) + 1]
    assert code_depth(np.array(codes, dtype=np.uint64)).tolist() == [0, 1, 0, 2, 1, 6, 6]
    rng = np.random.default_rng(5)
    for size in (1, 3, 6, 50):
        c = window_codes(_random_trace(rng, size))
        assert (
            code_depth(c).tolist() == [_ref_depth(int(x)) for x in c] == [min(i + 1, 6) for i in range(size)]
        )
    with pytest.raises(ValueError):
        code_depth([WINDOW_MASK + 1])
    with pytest.raises(ValueError):
        code_depth([-1])
    with pytest.raises(TypeError):
        code_depth([1.5])


# --- fitting and scoring from codes ---------------------------------------------------------------------


def _state(m: SequenceModel) -> bytes:
    return bytes(msgpack.packb(m.to_state(), use_bin_type=True))


def test_fit_codes_equals_fit() -> None:
    rng = np.random.default_rng(8)
    traces = [_random_trace(rng, int(rng.integers(1, 120))) for _ in range(25)]
    for order in (1, 2, 6):
        ref = _state(SequenceModel(order=order).fit(traces))
        codes = [window_codes(t) for t in traces]
        # Distinct codes with counts per thread, as a baseline would collect them ...
        per_thread = [np.unique(c, return_counts=True) for c in codes]
        assert _state(SequenceModel(order=order).fit_codes(per_thread)) == ref
        # ... or over everything at once, or raw codes with repeats, in any order and split.
        allc = np.concatenate(codes)
        assert _state(SequenceModel(order=order).fit_codes([np.unique(allc, return_counts=True)])) == ref
        shuffled = rng.permutation(allc)
        pieces = np.array_split(shuffled, 7)
        pairs = [(p, np.ones(p.size, dtype=np.int64)) for p in pieces]
        assert _state(SequenceModel(order=order).fit_codes(pairs)) == ref
        # Python ints and lists are fine too; zero counts add nothing.
        lists = [(c.tolist(), [1] * c.size) for c in codes] + [([7, 9 << 10 | 3], [0, 0])]
        assert _state(SequenceModel(order=order).fit_codes(lists)) == ref
    # Multiplicities are counts: three copies of each trace.
    k, c = np.unique(np.concatenate([window_codes(t) for t in traces]), return_counts=True)
    assert _state(SequenceModel().fit_codes([(k, 3 * c)])) == _state(SequenceModel().fit(traces * 3))


def test_fit_codes_with_a_small_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(12)
    traces = [_random_trace(rng, 300) for _ in range(4)]
    ref = _state(SequenceModel().fit(traces))
    monkeypatch.setattr(seqmod, "_CHUNK", 5)
    pairs = [(window_codes(t), np.ones(300, dtype=np.int64)) for t in traces]
    assert _state(SequenceModel().fit_codes(pairs)) == ref
    assert _state(SequenceModel().fit(traces)) == ref


def test_fit_codes_refuses_bad_input() -> None:
    for pairs in (
        [],
        [(np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64))],
        [([0], [5])],
        [([3], [0])],
    ):
        with pytest.raises(ValueError, match="no syscalls"):
            SequenceModel().fit_codes(pairs)
    with pytest.raises(ValueError):
        SequenceModel().fit_codes([([1, 2], [1])])
    with pytest.raises(ValueError):
        SequenceModel().fit_codes([([1, 2], [1, -1])])
    with pytest.raises(ValueError):
        SequenceModel().fit_codes([([WINDOW_MASK + 1], [1])])
    with pytest.raises(TypeError):
        SequenceModel().fit_codes([([1, 2], [1.0, 1.0])])
    with pytest.raises(TypeError):
        SequenceModel().fit_codes([(np.array([1.0]), [1])])


def test_code_novelty_is_window_novelty(model: SequenceModel, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(21)
    probe = np.concatenate([*_motif_traces(3, 2, 40), _random_trace(rng, 50)])
    codes = window_codes(probe)
    nov = model.window_novelty(probe)
    np.testing.assert_array_equal(model.code_novelty(codes), nov)
    # A code carries all the context: any order, any subset, repeats.
    pick = rng.integers(0, probe.size, size=300)
    np.testing.assert_array_equal(model.code_novelty(codes[pick]), nov[pick])
    # History given as syscalls (window_novelty) or as the code it leaves (window_codes).
    a, b = probe[:77], probe[77:]
    h = int(window_codes(a)[-1])
    np.testing.assert_array_equal(
        model.code_novelty(window_codes(b, history=h)), model.window_novelty(b, history=a)
    )
    np.testing.assert_array_equal(model.window_novelty(b, history=a), nov[77:])
    monkeypatch.setattr(seqmod, "_CHUNK", 9)
    np.testing.assert_array_equal(model.code_novelty(codes), nov)
    assert model.code_novelty([]).shape == (0,)
    with pytest.raises(ValueError, match="depth 0"):
        model.code_novelty([5, 0])
    with pytest.raises(ValueError, match="depth 0"):
        model.code_novelty([7 << 10])
    with pytest.raises(RuntimeError):
        SequenceModel().code_novelty([5])


def _ref_code_novelty(train: list[np.ndarray], code: int, order: int) -> float:
    """Novelty of one code from n-gram counts of token tuples, a loop at a time."""
    grams: Counter[tuple[int, ...]] = Counter()
    for t in train:
        s = [_ref_tok(int(x)) for x in t]
        for n in range(1, order + 1):
            grams.update(tuple(s[i : i + n]) for i in range(len(s) - n + 1))
    uni = {g: c for g, c in grams.items() if len(g) == 1}
    # Tokens of the code, oldest first, down to the current syscall.
    depth = _ref_depth(code)
    toks = [(code >> (10 * j)) & 1023 for j in reversed(range(depth))]
    types, total = len(uni), sum(uni.values())
    p = (uni.get((toks[-1],), 0) + types * (1 / (types + 1))) / (total + types)
    acc = -math.log(p)
    k = min(depth, order)
    for n in range(2, k + 1):
        ctx = tuple(toks[-n:-1])
        follow = {g: c for g, c in grams.items() if len(g) == n and g[:-1] == ctx}
        cx, tx = sum(follow.values()), len(follow)
        if cx > 0:
            p = (grams.get((*ctx, toks[-1]), 0) + tx * p) / (cx + tx)
        acc -= math.log(p)
    return acc / k


def test_code_novelty_matches_a_hand_computed_model() -> None:
    # Training 1, 2, 1, 3 (tokens 3, 4, 3, 5): unigram counts 2/1/1 of 4, bigrams 34, 43, 35.
    m = SequenceModel(order=2).fit([np.array([1, 2, 1, 3])])
    p1 = {c: (c + 3 / 4) / (4 + 3) for c in (0, 1, 2)}  # Witten-Bell over the order-0 1/(3+1)
    cases = {
        3: -math.log(p1[2]),  # "1" at a thread's start: order 1 only
        3 << 10 | 5: -(math.log(p1[1]) + math.log((1 + 2 * p1[1]) / (2 + 2))) / 2,  # "1, 3": seen
        4 << 10 | 4: -(math.log(p1[1]) + math.log((0 + 1 * p1[1]) / (1 + 1))) / 2,  # "2, 2": new
        5 << 10 | 3: -math.log(p1[2]),  # "3, 1": context never followed, order 2 keeps p1
        3 << 10 | 1023: -(math.log(p1[0]) + math.log((0 + 2 * p1[0]) / (2 + 2))) / 2,  # "1, 5000": new
    }
    codes = np.array(list(cases), dtype=np.uint64)
    np.testing.assert_allclose(m.code_novelty(codes), list(cases.values()), rtol=1e-12)


def test_code_novelty_matches_a_pure_python_reference() -> None:
    rng = np.random.default_rng(4)
    train = [_random_trace(rng, int(rng.integers(1, 60))) for _ in range(12)]
    seen = np.concatenate([window_codes(t) for t in train])
    fresh = window_codes(_random_trace(rng, 40))
    made_up = [7, 3 << 10 | 4, 1023 << 20 | 3 << 10 | 4, WINDOW_MASK]  # shallow, out-of-range, "all other"
    codes = np.concatenate([rng.choice(seen, 25), fresh, np.array(made_up, dtype=np.uint64)])
    for order in (1, 3, 6):
        m = SequenceModel(order=order).fit(train)
        ref = [_ref_code_novelty(train, int(c), order) for c in codes]
        np.testing.assert_allclose(m.code_novelty(codes), ref, rtol=1e-12)


def _table(keys: list[int], counts: list[int]) -> dict[str, bytes]:
    return {"keys": np.array(keys, dtype="<u8").tobytes(), "counts": np.array(counts, dtype="<i8").tobytes()}


def test_a_context_pruned_by_the_cap_counts_as_unseen() -> None:
    # Table 2 kept "1, 2" (tokens 3, 4) but the size cap dropped "1" from table 1, as happens when
    # max_ngrams prunes at different lengths: order 2 has no context statistics to refine with.
    st = SequenceModel(order=2).fit([np.array([2, 2])]).to_state()
    st["tables"] = [_table([4], [5]), _table([3 << 10 | 4], [5])]
    m = SequenceModel.from_state(st)
    p1 = (5 + 1 * (1 / 2)) / (5 + 1)
    assert m.code_novelty([3 << 10 | 4])[0] == pytest.approx(-math.log(p1), rel=1e-12)
    # With the context kept, the same table refines it.
    st["tables"] = [_table([3, 4], [5, 5]), _table([3 << 10 | 4], [5])]
    m = SequenceModel.from_state(st)
    p1 = (5 + 2 * (1 / 3)) / (10 + 2)
    expect = -(math.log(p1) + math.log((5 + 1 * p1) / (5 + 1))) / 2
    assert m.code_novelty([3 << 10 | 4])[0] == pytest.approx(expect, rel=1e-12)


def test_out_of_range_syscalls_share_token_1023() -> None:
    m = SequenceModel().fit([np.array([1, 2, 3, 5000, 4, 5] * 10)])
    base = m.window_novelty([1, 2, 3, 5000, 4, 5])
    for other in (1021, 1023, 99_999, -2, -(2**40)):
        np.testing.assert_array_equal(m.window_novelty([1, 2, 3, other, 4, 5]), base)
    # ... and are known once seen: an out-of-range call is no longer padding-like token 0.
    assert m.window_novelty([1, 2, 3, 5000, 4, 5])[3] < m.window_novelty([1, 2, 3, 1020, 4, 5])[3]
    assert code_depth(window_codes([5000, 6000])).tolist() == [1, 2]


def test_old_state_format_is_refused(model: SequenceModel) -> None:
    st = model.to_state()
    assert st["format"] == "h7.sequence/2"
    with pytest.raises(ValueError, match="learn the baseline again"):
        SequenceModel.from_state({**st, "format": "h7.sequence/1"})
    stide = StideModel().fit(_motif_traces(1, 3, 20)).to_state()
    assert stide["format"] == "h7.sequence/2"
    with pytest.raises(ValueError, match="learn the baseline again"):
        StideModel.from_state({**stide, "format": "h7.sequence/1"})
    # A table whose keys cannot be windows of its length is corrupt.
    bad = {**st, "tables": [dict(t) for t in st["tables"]]}
    bad["tables"][1] = _table([5], [1])
    with pytest.raises(ValueError, match="corrupt"):
        SequenceModel.from_state(bad)


# --- stide is stide ----------------------------------------------------------------------------------


def test_stide_hand_checked_example() -> None:
    st = StideModel().fit([np.array([1, 2, 3, 4, 5, 6, 7, 8])])
    # Database: (1..6), (2..7), (3..8).
    assert st.score([1, 2, 3, 4, 5, 6, 7, 8]) == 0.0
    # Windows (1..6) ok, (2..7) ok, (3,4,5,6,7,9) new: 1 of 3.
    assert st.score([1, 2, 3, 4, 5, 6, 7, 9]) == pytest.approx(1 / 3)
    # (3..8) is known; the five windows that run from 8 back to 1 are not.
    assert st.mismatches([3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5]).tolist() == [False, True, True, True, True, True]
    # 8 windows: (2..7), (3..8) and the final (1..6) are known, the 5 spanning "8, 1" are new.
    assert st.score([2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6]) == pytest.approx(5 / 8)
    # Shorter than a window: nothing to compare.
    assert st.score([9, 9, 9]) == 0.0
    # Windows never span two training traces.
    st2 = StideModel().fit([np.array([1, 2, 3]), np.array([4, 5, 6])])
    assert st2.score([1, 2, 3, 4, 5, 6]) == 1.0


def test_stide_matches_bruteforce_reference() -> None:
    rng = np.random.default_rng(1)
    train = [rng.integers(0, 5, size=int(rng.integers(3, 200))) for _ in range(10)]
    db = {tuple(t[i : i + 6].tolist()) for t in train for i in range(len(t) - 5)}
    st = StideModel().fit(train)
    for _ in range(20):
        tr = rng.integers(0, 6, size=int(rng.integers(6, 100)))
        wins = [tuple(tr[i : i + 6].tolist()) for i in range(len(tr) - 5)]
        assert st.score(tr) == pytest.approx(sum(w not in db for w in wins) / len(wins))


# --- how novelties combine into a score ----------------------------------------------------------------


@pytest.mark.parametrize("top_k,top_frac", [(8, 0.0), (1, 1.0), (4, 0.25), (64, 0.5), (3, 0.1)])
def test_score_is_the_mean_of_the_scored_count(train: list[np.ndarray], top_k: int, top_frac: float) -> None:
    m = SequenceModel(top_k=top_k, top_frac=top_frac).fit(train)
    for tr in _motif_traces(11, 6, 30):
        nov = np.sort(m.window_novelty(tr))[::-1]
        n = m.scored_count(nov.size)
        assert n == min(nov.size, max(top_k, math.ceil(top_frac * nov.size - 1e-9)))
        assert m.score(tr) == pytest.approx(float(nov[:n].mean()), rel=1e-12)
    assert m.score([]) == 0.0


def test_last_order_novelty_is_the_highest_order_surprisal(train: list[np.ndarray]) -> None:
    mix = SequenceModel().fit(train)
    last = SequenceModel(novelty="last").fit(train)
    tr = train[0][:200].copy()
    a, b = mix.window_novelty(tr), last.window_novelty(tr)
    assert a.shape == b.shape and not np.allclose(a, b)
    # The first syscall has depth 1: both readings are its order-1 surprisal.
    assert a[0] == pytest.approx(b[0])
    # Unseen syscall: surprising either way.
    odd = tr.copy()
    odd[100] = 333
    assert last.score(odd) > last.score(tr)


def test_new_settings_round_trip_and_validate(train: list[np.ndarray]) -> None:
    m = SequenceModel(order=4, top_k=32, top_frac=0.5, novelty="last").fit(train)
    blob = msgpack.packb(m.to_state(), use_bin_type=True)
    back = SequenceModel.from_state(msgpack.unpackb(blob, raw=False))
    assert (back.order, back.top_k, back.top_frac, back.novelty) == (4, 32, 0.5, "last")
    probe = _motif_traces(13, 3, 30)
    assert back.score_many(probe).tolist() == m.score_many(probe).tolist()
    old = SequenceModel().fit(train).to_state()
    del old["top_frac"], old["novelty"]  # a state saved before these settings existed
    assert SequenceModel.from_state(old).top_frac == 0.0
    for bad in ({"top_frac": -0.1}, {"top_frac": 1.5}, {"novelty": "max"}):
        with pytest.raises(ValueError):
            SequenceModel(**bad)


def test_syscall_set_model() -> None:
    m = SyscallSetModel().fit([np.array([1, 2, 3]), np.array([1, 2]), np.array([1, 2])])
    got = m.score_many(
        [np.array([2, 1, 2]), np.array([1, 2, 3, 4]), np.zeros(0, dtype=np.int64), np.array([9])]
    )
    # {1,2} is a training set; {1,2,3,4} is 3/4 of {1,2,3}; empty scores 0; {9} shares nothing.
    np.testing.assert_allclose(got, [0.0, 0.25, 0.0, 1.0])
    assert m.score([3, 2, 1, 1]) == 0.0  # order and counts do not matter
    with pytest.raises(ValueError):
        SyscallSetModel().fit([np.zeros(0, dtype=np.int64)])
    with pytest.raises(RuntimeError):
        SyscallSetModel().score([1])


# --- Kneser-Ney smoothing ----------------------------------------------------------------------------


def _tokens_of(code: int) -> tuple[int, ...]:
    """The six tokens of a window code, oldest first (0 = before the thread's first syscall)."""
    return tuple((code >> (TOKEN_BITS * j)) & 1023 for j in range(WINDOW_LEN - 1, -1, -1))


def _ref_kn(train: list[np.ndarray], code: int, order: int, novelty: str) -> float:
    """Interpolated modified Kneser-Ney written from the definition, with dicts and loops."""
    grams: list[Counter[tuple[int, ...]]] = [Counter() for _ in range(order + 1)]
    for t in train:
        padded = [0] * (WINDOW_LEN - 1) + [int(x) + 2 if -1 <= x <= 1020 else 1023 for x in t]
        for i in range(WINDOW_LEN - 1, len(padded)):
            grams[order][tuple(padded[i - order + 1 : i + 1])] += 1
    for n in range(order - 1, 0, -1):  # continuation counts; a thread's start keeps its raw count
        for g, c in grams[n + 1].items():
            grams[n][g[1:]] += c if g[0] == 0 else 1

    def discounts(cnt: Counter[tuple[int, ...]]) -> list[float]:
        k = [sum(1 for v in cnt.values() if v == j) for j in (1, 2, 3, 4)]
        y = k[0] / (k[0] + 2 * k[1]) if k[0] + k[1] else 0.5
        d = [0.0]
        for j in (1, 2, 3):
            est = j - (j + 1) * y * k[j] / k[j - 1] if k[j - 1] else 0.5 * j
            d.append(min(max(est, 0.05), j - 0.05))
        return d

    toks = _tokens_of(code)
    p = 1.0 / (len(grams[1]) + 1)
    logs = []
    for n in range(1, order + 1):
        d = discounts(grams[n])
        ctx = toks[WINDOW_LEN - n : WINDOW_LEN - 1]
        group = {g: c for g, c in grams[n].items() if g[:-1] == ctx}
        total = sum(group.values())
        if total:
            c = group.get((*ctx, toks[-1]), 0)
            freed = sum(d[min(v, 3)] for v in group.values())
            p = (max(c - d[min(c, 3)], 0.0) + freed * p) / total
        logs.append(-math.log(p))
    return logs[-1] if novelty == "last" else sum(logs) / order


def test_kneser_ney_matches_a_pure_python_reference() -> None:
    rng = np.random.default_rng(11)
    train = [_random_trace(rng, int(rng.integers(1, 80))) for _ in range(14)]
    seen = np.concatenate([window_codes(t) for t in train])
    fresh = window_codes(_random_trace(rng, 40))
    made_up = [7, 3 << 10 | 4, 1023 << 20 | 3 << 10 | 4, WINDOW_MASK]
    codes = np.concatenate([rng.choice(seen, 30), fresh, np.array(made_up, dtype=np.uint64)])
    for order in (1, 2, 4, 6):
        for novelty in ("last", "mix"):
            m = SequenceModel(order=order, novelty=novelty, smoothing="kn").fit(train)
            ref = [_ref_kn(train, int(c), order, novelty) for c in codes]
            np.testing.assert_allclose(m.code_novelty(codes), ref, rtol=1e-10, err_msg=f"{order} {novelty}")


def test_kneser_ney_probabilities_sum_to_one(train: list[np.ndarray]) -> None:
    """After any context, the seen syscalls plus one unseen share probability 1 exactly."""
    rng = np.random.default_rng(5)
    seen_tokens = np.unique(np.concatenate(train)) + 2
    nexts = np.append(seen_tokens, 1000).astype(np.uint64)  # 998: never seen
    for order in (1, 3, 6):
        m = SequenceModel(order=order, novelty="last", smoothing="kn").fit(train)
        for _ in range(25):
            ctx = rng.choice(np.append(seen_tokens - 2, 500), size=int(rng.integers(0, 6)))
            prev = int(window_codes(ctx)[-1]) if ctx.size else 0
            codes = ((np.uint64(prev) << np.uint64(TOKEN_BITS)) | nexts) & np.uint64(WINDOW_MASK)
            assert float(np.exp(-m.code_novelty(codes)).sum()) == pytest.approx(1.0, abs=1e-9)


def test_kneser_ney_state_round_trip_and_fit_codes(train: list[np.ndarray]) -> None:
    m = SequenceModel(order=4, top_k=64, top_frac=0.5, novelty="last", smoothing="kn").fit(train)
    blob = msgpack.packb(m.to_state(), use_bin_type=True)
    back = SequenceModel.from_state(msgpack.unpackb(blob, raw=False))
    assert (back.order, back.smoothing, back.novelty) == (4, "kn", "last")
    probe = _motif_traces(21, 4, 30)
    assert back.score_many(probe).tolist() == m.score_many(probe).tolist()
    pairs = [np.unique(window_codes(t), return_counts=True) for t in train]
    via_codes = SequenceModel(order=4, top_k=64, top_frac=0.5, novelty="last", smoothing="kn").fit_codes(
        pairs
    )
    assert via_codes.score_many(probe).tolist() == m.score_many(probe).tolist()
    # A call never seen is more novel than any position of a training trace.
    nov = m.window_novelty(np.concatenate([train[0][:12], [400], train[0][12:40]]))
    assert nov[12] > np.max(m.window_novelty(train[0][:40]))
    # Tokens above a "no syscall" are not part of a window: (5, 0, a, b) is the thread-start (a, b).
    ab = int(window_codes(train[0][:2])[-1])
    assert m.code_novelty([(7 << 30) | ab])[0] == m.code_novelty([ab])[0]
    st = m.to_state()
    st["tables"] = st["tables"] * 2
    with pytest.raises(ValueError):
        SequenceModel.from_state(st)
    st["tables"] = [{"keys": np.array([0], "<u8").tobytes(), "counts": np.array([3], "<i8").tobytes()}]
    with pytest.raises(ValueError):  # a key holding no syscall
        SequenceModel.from_state(st)
    with pytest.raises(ValueError):
        SequenceModel(smoothing="good-turing")
    with pytest.raises(ValueError):
        SequenceModel(smoothing="kn").fit([np.zeros(0, dtype=np.int64)])
