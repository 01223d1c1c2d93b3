"""Canonical msgpack: one encoding per value, real msgpack, strict decoder that only raises cleanly."""

from __future__ import annotations

import math
import struct
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h7.cal import canonical
from h7.errors import VerificationError

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=300)
    | st.binary(max_size=300)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=20) | st.dictionaries(st.text(max_size=20), children, max_size=20)
    ),
    max_leaves=60,
)


def _sorted_deep(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _sorted_deep(v[k]) for k in sorted(v, key=lambda k: k.encode("utf-8"))}
    if isinstance(v, list):
        return [_sorted_deep(x) for x in v]
    return v


@given(values)
@settings(deadline=None, max_examples=300)
def test_roundtrip_and_agrees_with_msgpack_library(v: Any) -> None:
    enc = canonical.encode(v)
    assert canonical.decode(enc) == v
    # The canonical form is ordinary msgpack: the library writes the same bytes for
    # key-sorted input and reads ours back.
    assert msgpack.packb(_sorted_deep(v), use_bin_type=True) == enc
    assert msgpack.unpackb(enc, raw=False, strict_map_key=False) == v


@given(values)
@settings(deadline=None)
def test_encoding_is_independent_of_insertion_order(v: Any) -> None:
    def reverse_maps(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: reverse_maps(x[k]) for k in reversed(list(x))}
        if isinstance(x, list):
            return [reverse_maps(y) for y in x]
        return x

    assert canonical.encode(reverse_maps(v)) == canonical.encode(v)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xcc\x05", "uint8 holding a fixint"),
        (b"\xcd\x00\xff", "uint16"),
        (b"\xce\x00\x00\xff\xff", "uint32"),
        (b"\xcf\x00\x00\x00\x00\xff\xff\xff\xff", "uint64"),
        (b"\xd0\xff", "signed integer wider"),
        (b"\xd0\x05", "signed integer wider"),
        (b"\xd1\xff\x80", "signed integer wider"),
        (b"\xd2\xff\xff\x80\x00", "signed integer wider"),
        (b"\xd3\xff\xff\xff\xff\x80\x00\x00\x00", "signed integer wider"),
        (b"\xca\x3f\x80\x00\x00", "float32"),
        (b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01", "NaN"),
        (b"\xcb\xff\xf8\x00\x00\x00\x00\x00\x00", "NaN"),
        (b"\xd9\x01a", "str8"),
        (b"\xda\x00\x01a", "str16"),
        (b"\xdb\x00\x00\x00\x01a", "str32"),
        (b"\xc5\x00\x01a", "bin length"),
        (b"\xc6\x00\x00\x00\x01a", "bin length"),
        (b"\xdc\x00\x01\xc0", "array16"),
        (b"\xdd\x00\x00\x00\x01\xc0", "array32"),
        (b"\xde\x00\x01\xa1a\xc0", "map16"),
        (b"\xdf\x00\x00\x00\x01\xa1a\xc0", "map32"),
        (b"\x82\xa1b\xc0\xa1a\xc0", "byte order"),
        (b"\x82\xa1a\xc0\xa1a\xc0", "duplicate"),
        (b"\x81\x01\xc0", "not a string"),
        (b"\x81\xc4\x01a\xc0", "not a string"),
        (b"\xa1\xff", "UTF-8"),
        (b"\xa3\xed\xa0\x80", "UTF-8"),  # an encoded surrogate
        (b"\xc1", "0xc1"),
        (b"\xd4\x01\x00", "ext"),
        (b"\xc7\x01\x01\x00", "ext"),
        (b"\xc0\xc0", "trailing"),
        (b"", "truncated"),
        (b"\xa5abc", "truncated"),
        (b"\xdd\xff\xff\xff\xff", "exceeds"),
        (b"\x91" * 40 + b"\xc0", "nesting"),
    ],
)
def test_rejects_every_non_canonical_form(data: bytes, why: str) -> None:
    with pytest.raises(VerificationError, match=why):
        canonical.decode(data)


def test_accepts_boundaries_in_their_minimal_form() -> None:
    for v in [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1]:
        assert canonical.decode(canonical.encode(v)) == v
    for v in [-1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]:
        assert canonical.decode(canonical.encode(v)) == v
    for n in [0, 31, 32, 255, 256, 65535, 65536]:
        s = "x" * n
        assert canonical.decode(canonical.encode(s)) == s
    enc = canonical.encode(float("nan"))
    assert enc == canonical.CANONICAL_NAN and math.isnan(canonical.decode(enc))
    assert canonical.encode(-0.0) == b"\xcb" + struct.pack(">d", -0.0)


def test_encoder_refuses_values_outside_the_model() -> None:
    for bad in [2**64, -(2**63) - 1, (1, 2), {1: "a"}, {"a"}, object()]:
        with pytest.raises((TypeError, ValueError)):
            canonical.encode(bad)


@given(st.binary(max_size=512))
@settings(deadline=None, max_examples=1000)
def test_fuzzed_bytes_only_ever_raise_verification_error(data: bytes) -> None:
    try:
        v = canonical.decode(data)
    except VerificationError:
        return
    assert canonical.encode(v) == data  # anything accepted is canonical


@given(values, st.data())
@settings(deadline=None, max_examples=300)
def test_mutated_encodings_are_rejected_or_still_canonical(v: Any, data: st.DataObject) -> None:
    enc = bytearray(canonical.encode(v))
    pos = data.draw(st.integers(0, len(enc) - 1))
    enc[pos] = data.draw(st.integers(0, 255))
    try:
        out = canonical.decode(bytes(enc))
    except VerificationError:
        return
    assert canonical.encode(out) == bytes(enc)


def _nest(n: int) -> list[Any]:
    v: list[Any] = [1]
    for _ in range(n):
        v = [v]
    return v


@given(values)
@settings(deadline=None, max_examples=300)
def test_normalize_keeps_what_the_model_already_holds(v: Any) -> None:
    """Its exact-type fast paths (ASCII str, 64-bit int, dict) change nothing the slow ones would keep."""
    out = canonical.normalize(v)
    assert out == v
    assert canonical.encode(out) == canonical.encode(v)


def test_normalize_fast_paths_leave_the_slow_cases_alone() -> None:
    class Tag(str):
        pass

    out = canonical.normalize({"k": Tag("ascii"), Tag("key"): 1, "é\udcff": "ü\udcff", "big": 2**64})
    assert type(out["k"]) is str and type(next(iter(out))) is str
    assert out["é\\udcff"] == "ü\\udcff" and out["big"] == str(2**64)
    assert canonical.normalize(True) is True and canonical.normalize(-(2**63) - 1) == str(-(2**63) - 1)


def test_normalize_makes_detection_output_encodable_and_deterministic() -> None:
    ev = {
        "np_int": np.int64(7),
        "np_float": np.float32(0.5),
        "array": np.arange(3),
        "tuple": (1, "a"),
        "set": {3, 1, 2},
        5: "int key",
        b"\x01": "bytes key",
        "huge": 2**70,
        "nan": float("nan"),
        "path": __import__("pathlib").Path("/x"),
        "surrogate": "a\udcff",
        "deep": _nest(40),
    }
    out = canonical.normalize(ev)
    enc = canonical.encode(out)
    assert canonical.decode(enc) is not None
    assert out["np_int"] == 7 and out["array"] == [0, 1, 2] and out["tuple"] == [1, "a"]
    assert out["set"] == [1, 2, 3] and out["5"] == "int key" and out["01"] == "bytes key"
    assert out["huge"] == str(2**70) and out["path"] == "/x"
    assert canonical.encode(canonical.normalize(ev)) == enc
