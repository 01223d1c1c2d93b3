"""Certificate-level tamper resistance: anything but the exact signed canonical bytes is rejected."""

from __future__ import annotations

import contextlib
import hashlib
import struct
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cal_support import sample_agent, sample_alert

from h7.cal import canonical
from h7.cal.format import (
    HEADER_LEN,
    MAGIC,
    PAYLOAD_TYPE,
    SIG_LEN,
    ZERO_HASH,
    pack_container,
    pae,
    sign_body,
    verify_bytes,
    verify_file,
)
from h7.cal.keys import key_id
from h7.cal.writer import ChainPosition, build_alert_body, build_operator_body
from h7.errors import VerificationError

KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"h7 test_cal_format key").digest())
PUB = KEY.public_key()
OTHER = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"h7 test_cal_format other").digest())


def _body(**over: Any) -> dict[str, Any]:
    b = build_alert_body(
        sample_alert(3),
        sample_agent(),
        {"events": 0, "syscalls": 4},
        at=ChainPosition("h", 7, bytes(range(32)), key_id(PUB), 1_732_700_000_500_000_000),
    )
    b.update(over)
    return b


BODY = _body()
CERT = sign_body(BODY, KEY)


def _sign_raw(body_bytes: bytes, key: Ed25519PrivateKey = KEY) -> bytes:
    return pack_container(body_bytes, key.sign(pae(PAYLOAD_TYPE, body_bytes)))


def test_roundtrip_and_layout() -> None:
    cert = verify_bytes(CERT, PUB)
    assert cert.body == BODY
    assert cert.seq == 7 and cert.action == "ALERT_EMITTED" and cert.ts_ns == BODY["ts_ns"]
    assert type(cert.body["ts_ns"]) is int
    assert CERT[:8] == MAGIC
    assert int.from_bytes(CERT[8:12], "big") == len(CERT) - HEADER_LEN - SIG_LEN
    assert cert.body_bytes == canonical.encode(BODY)
    PUB.verify(
        cert.signature,
        b"DSSEv1 33 application/vnd.h7.cal.v1+msgpack %d " % len(cert.body_bytes) + cert.body_bytes,
    )


def test_ts_ns_is_exact_beyond_float_precision() -> None:
    ts = 2**62 + 1  # not representable as a float64
    cert = verify_bytes(sign_body(_body(ts_ns=ts), KEY), PUB)
    assert cert.ts_ns == ts


def test_operator_record_roundtrip() -> None:
    b = build_operator_body(
        "CONTAINED_BY_OPERATOR",
        "x:1:2",
        "because",
        0,
        "root",
        at=ChainPosition("h", 1, ZERO_HASH, key_id(PUB), 6),
        ts_ns=5,
        containment={"method": "sigstop", "pids": [1, 2]},
    )
    cert = verify_bytes(sign_body(b, KEY), PUB)
    assert cert.body["operator"] == {"login": "root", "uid": 0}
    assert cert.body["reason"] == "because"


@given(st.data())
@settings(deadline=None, max_examples=500)
def test_any_single_bit_flip_is_rejected(data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, len(CERT) - 1))
    bit = data.draw(st.integers(0, 7))
    bad = bytearray(CERT)
    bad[pos] ^= 1 << bit
    with pytest.raises(VerificationError):
        verify_bytes(bytes(bad), PUB)


@given(st.integers(0, len(CERT) - 1))
@settings(deadline=None, max_examples=300)
def test_any_truncation_is_rejected(n: int) -> None:
    with pytest.raises(VerificationError):
        verify_bytes(CERT[:n], PUB)


@given(st.binary(min_size=1, max_size=100))
@settings(deadline=None)
def test_any_appended_bytes_are_rejected(extra: bytes) -> None:
    with pytest.raises(VerificationError):
        verify_bytes(CERT + extra, PUB)


field_edits = st.sampled_from(
    [
        ("divergence", 0.1),
        ("threshold", 0.99),
        ("ts_ns", 1),
        ("seq", 8),
        ("prev_hash", ZERO_HASH),
        ("agent_id", "other:1:2"),
        ("host", "elsewhere"),
        ("channel", "L1"),
        ("code", "DRIFT_DETECTED"),
        ("evidence", {}),
        ("syscall_trace", []),
        ("drops", {"events": 0, "syscalls": 0}),
        ("action", "RELEASED_BY_OPERATOR"),
    ]
)


@given(field_edits)
@settings(deadline=None)
def test_field_edit_with_the_old_signature_is_rejected(edit: tuple[str, Any]) -> None:
    name, value = edit
    edited = canonical.encode(dict(BODY, **{name: value}))
    forged = pack_container(edited, CERT[-SIG_LEN:])
    with pytest.raises(VerificationError, match="signature"):
        verify_bytes(forged, PUB)


@given(field_edits)
@settings(deadline=None)
def test_field_edit_resigned_with_another_key_is_rejected(edit: tuple[str, Any]) -> None:
    name, value = edit
    with pytest.raises(VerificationError, match="signature"):
        verify_bytes(_sign_raw(canonical.encode(dict(BODY, **{name: value})), OTHER), PUB)


@given(st.permutations(sorted(BODY)))
@settings(deadline=None, max_examples=200)
def test_reencoding_with_reordered_keys_is_rejected_even_when_validly_signed(order: list[str]) -> None:
    raw = bytearray([0xDE]) + len(order).to_bytes(2, "big")
    for k in order:
        raw += canonical.encode(k) + canonical.encode(BODY[k])
    data = _sign_raw(bytes(raw))
    if order == sorted(BODY, key=lambda k: k.encode()):
        assert verify_bytes(data, PUB).body == BODY
    else:
        with pytest.raises(VerificationError, match="non-canonical"):
            verify_bytes(data, PUB)


def test_map16_for_small_map_and_other_widenings_signed_are_rejected() -> None:
    good = canonical.encode(BODY)
    cases = [
        good.replace(b"\xa3seq\x07", b"\xa3seq\xcc\x07"),
        good.replace(b"\xcb" + struct.pack(">d", 0.9), b"\xca" + struct.pack(">f", 0.9)),
        good + b"\xc0",
        good.replace(b"\xa4host\xa1h", b"\xa4host\xd9\x01h"),
    ]
    for c in cases:
        assert c != good
        with pytest.raises(VerificationError):
            verify_bytes(_sign_raw(c), PUB)


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"version": 2}, "unknown format version"),
        ({"version": True}, "unknown format version"),
        ({"action": "NOPE"}, "unknown action"),
        ({"extra": 1}, "unknown field"),
        ({"seq": 0}, "seq"),
        ({"seq": -1}, "seq"),
        ({"prev_hash": b"x" * 31}, "prev_hash"),
        ({"ts_ns": 1.5}, "ts_ns"),
        ({"divergence": 1}, "divergence"),
        ({"channel": "L9"}, "channel"),
        ({"key_id": "ZZ"}, "key_id"),
        ({"agent": {"exe": "x"}}, "agent"),
        ({"drops": {"x": -1}}, "drops"),
    ],
)
def test_schema_violations_are_rejected_even_when_signed(over: dict[str, Any], why: str) -> None:
    with pytest.raises(VerificationError, match=why):
        verify_bytes(_sign_raw(canonical.encode(_body(**over))), PUB)
    with pytest.raises(ValueError):
        sign_body(_body(**over), KEY)  # and H7 never signs such a body


def test_missing_field_and_wrong_key_id_hint() -> None:
    b = {k: v for k, v in BODY.items() if k != "drops"}
    with pytest.raises(VerificationError, match="missing field"):
        verify_bytes(_sign_raw(canonical.encode(b)), PUB)
    with pytest.raises(VerificationError, match="key_id"):
        verify_bytes(_sign_raw(canonical.encode(_body(key_id=key_id(OTHER.public_key())))), PUB)


def test_wrong_public_key_is_rejected() -> None:
    with pytest.raises(VerificationError, match="signature"):
        verify_bytes(CERT, OTHER.public_key())


@given(st.binary(min_size=1, max_size=2048))
@settings(deadline=None, max_examples=500)
def test_fuzzed_signed_bodies_never_crash_the_parser(body: bytes) -> None:
    """Bodies that pass the signature reach the parser; it must only ever reject cleanly."""
    with contextlib.suppress(VerificationError):
        verify_bytes(_sign_raw(body), PUB)


@given(st.binary(max_size=2048))
@settings(deadline=None, max_examples=500)
def test_fuzzed_files_never_crash(data: bytes) -> None:
    with pytest.raises(VerificationError):
        verify_bytes(data, PUB)
    with pytest.raises(VerificationError):
        verify_bytes(MAGIC + len(data).to_bytes(4, "big") + data + bytes(64), PUB)


def test_verify_file_reads_paths_and_reports_unreadable(tmp_path: Any) -> None:
    p = tmp_path / "x.cal"
    p.write_bytes(CERT)
    assert verify_file(p, PUB).seq == 7
    assert verify_file(str(p), PUB).seq == 7
    with pytest.raises(VerificationError, match="cannot read"):
        verify_file(tmp_path / "missing.cal", PUB)
