"""Canonical msgpack: the one byte string a given certificate body may have.

A signature only means something if there is exactly one way to write the
signed thing down; otherwise two parties can hold "the same" certificate
with different bytes and a verifier that re-encodes can be fooled.  This
module implements a strict subset of msgpack (see docs/cal-format.md,
"Canonical encoding") by hand rather than through the ``msgpack`` package so
that the rules do not silently change with the library version, and so the
decoder can reject every non-canonical form instead of normalising it away.
The output is ordinary msgpack: any msgpack library can read it.

Everything here raises :class:`~h7.errors.VerificationError` on bad input and
nothing else, so fuzzed bytes never escape as a ``struct.error`` or
``IndexError``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

from h7.errors import VerificationError

MAX_DEPTH = 32
CANONICAL_NAN = b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"
_INT_MIN = -(2**63)
_UINT_MAX = 2**64 - 1

_PACK_D = struct.Struct(">d").pack
_UNPACK_D = struct.Struct(">d").unpack_from


def encode(obj: Any) -> bytes:
    """Canonical msgpack of ``obj`` (None, bool, int, float, str, bytes, list, str-keyed dict).

    Raises TypeError/ValueError for values outside that model: the writer
    runs :func:`normalize` first, so reaching that is a programming error.
    """
    out = bytearray()
    _enc(obj, out, 0)
    return bytes(out)


def _enc(obj: Any, out: bytearray, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"nesting deeper than {MAX_DEPTH}")
    if obj is None:
        out.append(0xC0)
    elif obj is True:
        out.append(0xC3)
    elif obj is False:
        out.append(0xC2)
    elif type(obj) is int:
        _enc_int(obj, out)
    elif type(obj) is float:
        if math.isnan(obj):
            out += CANONICAL_NAN
        else:
            out.append(0xCB)
            out += _PACK_D(obj)
    elif type(obj) is str:
        b = obj.encode("utf-8")  # raises on lone surrogates: not valid UTF-8
        n = len(b)
        if n <= 31:
            out.append(0xA0 | n)
        else:
            _enc_raw_len(n, 0xD9, "string", out)  # str8/str16/str32
        out += b
    elif type(obj) is bytes:
        _enc_raw_len(len(obj), 0xC4, "bytes", out)  # bin8/bin16/bin32
        out += obj
    elif type(obj) is list:
        n = len(obj)
        _enc_len(n, 0x90, 0xDC, out)
        for item in obj:
            _enc(item, out, depth + 1)
    elif type(obj) is dict:
        for k in obj:
            if type(k) is not str:
                raise TypeError(f"map keys must be str, got {type(k).__name__}")
        # Code-point order is UTF-8 byte order (UTF-8 was designed so), so plain str sorting
        # gives the byte order the format asks for without encoding every key once more
        # (a key that is not valid UTF-8 still raises, below, when it is encoded).
        keys = sorted(obj)
        _enc_len(len(keys), 0x80, 0xDE, out)
        for k in keys:  # a key is a str (checked above): its encoding inline, as _enc's str case
            b = k.encode("utf-8")
            if len(b) <= 31:
                out.append(0xA0 | len(b))
            else:
                _enc_raw_len(len(b), 0xD9, "string", out)
            out += b
            _enc(obj[k], out, depth + 1)
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} canonically")


def _enc_raw_len(n: int, tag8: int, what: str, out: bytearray) -> None:
    """Smallest 8/16/32-bit length header: ``tag8``, ``tag8 + 1``, ``tag8 + 2`` (str and bin families)."""
    if n <= 0xFF:
        out += bytes((tag8, n))
    elif n <= 0xFFFF:
        out.append(tag8 + 1)
        out += n.to_bytes(2, "big")
    elif n <= 0xFFFFFFFF:
        out.append(tag8 + 2)
        out += n.to_bytes(4, "big")
    else:
        raise ValueError(f"{what} too long for msgpack")


def _enc_len(n: int, fix: int, tag16: int, out: bytearray) -> None:
    if n <= 15:
        out.append(fix | n)
    elif n <= 0xFFFF:
        out.append(tag16)
        out += n.to_bytes(2, "big")
    elif n <= 0xFFFFFFFF:
        out.append(tag16 + 1)
        out += n.to_bytes(4, "big")
    else:
        raise ValueError("container too long for msgpack")


def _enc_int(v: int, out: bytearray) -> None:
    if 0 <= v <= 0x7F:
        out.append(v)
    elif v >= 0:
        if v <= 0xFF:
            out += bytes((0xCC, v))
        elif v <= 0xFFFF:
            out.append(0xCD)
            out += v.to_bytes(2, "big")
        elif v <= 0xFFFFFFFF:
            out.append(0xCE)
            out += v.to_bytes(4, "big")
        elif v <= _UINT_MAX:
            out.append(0xCF)
            out += v.to_bytes(8, "big")
        else:
            raise ValueError("integer above 2**64-1")
    elif v >= -32:
        out.append(v & 0xFF)
    elif v >= -0x80:
        out += bytes((0xD0, v & 0xFF))
    elif v >= -0x8000:
        out.append(0xD1)
        out += v.to_bytes(2, "big", signed=True)
    elif v >= -0x80000000:
        out.append(0xD2)
        out += v.to_bytes(4, "big", signed=True)
    elif v >= _INT_MIN:
        out.append(0xD3)
        out += v.to_bytes(8, "big", signed=True)
    else:
        raise ValueError("integer below -2**63")


# ---------------------------------------------------------------- decoding


class _Reader:
    """A bounds-checked cursor; every short read is a VerificationError."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise VerificationError("body: truncated msgpack")
        b = self.buf[self.pos : end]
        self.pos = end
        return b

    def byte(self) -> int:
        if self.pos >= len(self.buf):
            raise VerificationError("body: truncated msgpack")
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def remaining(self) -> int:
        return len(self.buf) - self.pos


def decode(data: bytes) -> Any:
    """Decode one canonical msgpack value filling ``data`` exactly.

    Rejects (VerificationError) anything :func:`encode` would not have
    produced: non-minimal integer or length forms, float32, non-canonical
    NaN, ext types, non-str or unsorted or duplicate map keys, invalid
    UTF-8, nesting deeper than MAX_DEPTH and trailing bytes.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise VerificationError("body: not bytes")
    r = _Reader(bytes(data))
    value = _dec(r, 0)
    if r.remaining():
        raise VerificationError(f"body: {r.remaining()} trailing bytes after the msgpack value")
    return value


def _noncanon(what: str) -> VerificationError:
    return VerificationError(f"body: non-canonical encoding ({what})")


#: unsigned int tags: (bytes, the largest value a narrower form holds, why a value that small is refused):
#: canonical means the shortest form, so a wider tag around a value that fits a narrower one is a second
#: encoding of the same body
_UINT_TAGS: dict[int, tuple[int, int, str]] = {
    0xCC: (1, 0x7F, "uint8 holding a fixint"),
    0xCD: (2, 0xFF, "uint16 holding a smaller integer"),
    0xCE: (4, 0xFFFF, "uint32 holding a smaller integer"),
    0xCF: (8, 0xFFFFFFFF, "uint64 holding a smaller integer"),
}
#: array and map tags: (length bytes, the longest a narrower form holds, why, a map?), the same rule
_CONTAINER_TAGS: dict[int, tuple[int, int, str, bool]] = {
    0xDC: (2, 15, "array16 holding a fixarray", False),
    0xDD: (4, 0xFFFF, "array32 holding a shorter array", False),
    0xDE: (2, 15, "map16 holding a fixmap", True),
    0xDF: (4, 0xFFFF, "map32 holding a smaller map", True),
}


def _dec(r: _Reader, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise VerificationError(f"body: nesting deeper than {MAX_DEPTH}")
    t = r.byte()
    if t <= 0x7F:
        return t
    if t >= 0xE0:
        return t - 0x100
    if 0xA0 <= t <= 0xBF:
        return _dec_str(r, t & 0x1F)
    if 0x90 <= t <= 0x9F:
        return _dec_array(r, t & 0x0F, depth)
    if 0x80 <= t <= 0x8F:
        return _dec_map(r, t & 0x0F, depth)
    if t == 0xC0:
        return None
    if t == 0xC2:
        return False
    if t == 0xC3:
        return True
    if t in _UINT_TAGS:
        size, largest_narrower, why = _UINT_TAGS[t]
        v = r.uint(size)
        if v <= largest_narrower:
            raise _noncanon(why)
        return v
    if t in (0xD0, 0xD1, 0xD2, 0xD3):
        size = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}[t]
        v = int.from_bytes(r.take(size), "big", signed=True)
        lower = {1: -32, 2: -0x80, 4: -0x8000, 8: -0x80000000}[size]
        if v >= lower:
            raise _noncanon("signed integer wider than needed (or non-negative)")
        return v
    if t == 0xCB:
        raw = r.take(8)
        (f,) = _UNPACK_D(raw)
        if math.isnan(f) and raw != CANONICAL_NAN[1:]:
            raise _noncanon("NaN other than 0x7ff8000000000000")
        return f
    if t == 0xCA:
        raise _noncanon("float32; floats are always float64")
    if t == 0xD9:
        n = r.uint(1)
        if n <= 31:
            raise _noncanon("str8 holding a fixstr")
        return _dec_str(r, n)
    if t == 0xDA:
        n = r.uint(2)
        if n <= 0xFF:
            raise _noncanon("str16 holding a shorter string")
        return _dec_str(r, n)
    if t == 0xDB:
        n = r.uint(4)
        if n <= 0xFFFF:
            raise _noncanon("str32 holding a shorter string")
        return _dec_str(r, n)
    if t in (0xC4, 0xC5, 0xC6):
        size = {0xC4: 1, 0xC5: 2, 0xC6: 4}[t]
        n = r.uint(size)
        if size > 1 and n <= (1 << (8 * (size // 2))) - 1:
            raise _noncanon("bin length wider than needed")
        return r.take(n)
    if t in _CONTAINER_TAGS:
        size, largest_narrower, why, is_map = _CONTAINER_TAGS[t]
        n = r.uint(size)
        if n <= largest_narrower:
            raise _noncanon(why)
        return _dec_map(r, n, depth) if is_map else _dec_array(r, n, depth)
    if t == 0xC1:
        raise VerificationError("body: byte 0xc1 is never used in msgpack")
    raise VerificationError(f"body: msgpack type 0x{t:02x} (ext) is not allowed")


def _dec_str(r: _Reader, n: int) -> str:
    raw = r.take(n)
    try:
        return raw.decode("utf-8", "strict")
    except UnicodeDecodeError:
        raise VerificationError("body: string is not valid UTF-8") from None


def _dec_array(r: _Reader, n: int, depth: int) -> list[Any]:
    if n > r.remaining():  # every element takes at least one byte
        raise VerificationError("body: array length exceeds the data")
    return [_dec(r, depth + 1) for _ in range(n)]


def _dec_map(r: _Reader, n: int, depth: int) -> dict[str, Any]:
    if 2 * n > r.remaining():
        raise VerificationError("body: map length exceeds the data")
    out: dict[str, Any] = {}
    prev: bytes | None = None
    for _ in range(n):
        k = _dec(r, depth + 1)
        if type(k) is not str:
            raise VerificationError("body: map key is not a string")
        kb = k.encode("utf-8")
        if prev is not None:
            if kb == prev:
                raise VerificationError(f"body: duplicate map key {k!r}")
            if kb < prev:
                raise _noncanon(f"map keys not in byte order at {k!r}")
        prev = kb
        out[k] = _dec(r, depth + 1)
    return out


# ------------------------------------------------------------ normalising


def normalize(obj: Any, depth: int = 0) -> Any:
    """Map arbitrary detection output onto the encodable model, deterministically.

    Channels put whatever helps an analyst into ``evidence`` (numpy scalars,
    tuples, sets, ints as keys, paths).  Emitting a certificate must not fail
    on that, so anything outside the model becomes the closest encodable
    value: numpy scalars/arrays -> Python numbers/lists, tuples -> lists, sets
    -> lists in canonical-encoding order, non-str map keys -> ``str(key)``
    (the last of colliding keys wins), integers outside 64 bits and unknown
    objects -> ``str(obj)``, nesting beyond MAX_DEPTH -> a marker string.
    """
    if depth >= MAX_DEPTH:
        return "<truncated: nested too deep>"
    # Fast paths first, by exact type: a certificate's 64-entry syscall trace is ~450 calls
    # here on the urgent path (act -> .cal), nearly all plain ints and ASCII strings, which
    # are already what the model holds (ASCII has no lone surrogates).
    t = type(obj)
    if t is str and obj.isascii():
        return obj
    if t is int and _INT_MIN <= obj <= _UINT_MAX:
        return obj
    if t is dict:
        return {_norm_key(k): normalize(v, depth + 1) for k, v in obj.items()}
    if obj is None or obj is True or obj is False:
        return obj
    if isinstance(obj, int):
        v = int(obj)
        return v if _INT_MIN <= v <= _UINT_MAX else str(v)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        # Lone surrogates (e.g. from surrogateescape'd paths) are not UTF-8.
        return str(obj).encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj)
    if isinstance(obj, Mapping):
        return {_norm_key(k): normalize(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [normalize(v, depth + 1) for v in obj]
    if isinstance(obj, set | frozenset):
        items = [normalize(v, depth + 1) for v in obj]
        return sorted(items, key=_safe_encode)
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        try:
            return normalize(tolist(), depth)
        except Exception:  # a foreign tolist(); fall back to its text
            return str(obj)
    return str(obj)


def _norm_key(k: Any) -> str:
    if type(k) is str and k.isascii():
        return k
    if isinstance(k, str):
        return normalize(k)
    if isinstance(k, bytes):
        return k.hex()
    return normalize(str(k))


def _safe_encode(v: Any) -> bytes:
    return encode(v)
