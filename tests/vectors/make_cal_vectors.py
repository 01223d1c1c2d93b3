"""Regenerate the .cal known-answer vectors (deterministic: Ed25519 signatures are).

    .venv/bin/python tests/vectors/make_cal_vectors.py

writes ``cal_v1.json``, the TEST-ONLY key pair, and a seven-certificate chain
under ``cal_v1_chain/``.  tests/test_cal_vectors.py re-derives everything
from the same inputs and fails if a code change alters a single byte, so the
vectors stay a faithful description of the format for other implementations.
Never use the test key for anything but tests: its seed is published here.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from h7.alert import Alert  # noqa: E402
from h7.batch import AgentInfo  # noqa: E402
from h7.cal import canonical  # noqa: E402
from h7.cal.format import (  # noqa: E402
    CONTAINED_BY_OPERATOR,
    DETECTIONS_UNCERTIFIED,
    PAYLOAD_TYPE,
    RELEASED_BY_OPERATOR,
    SENSOR_RECOVERED,
    SENSOR_STARTED,
    SENSOR_STOPPED,
    ZERO_HASH,
    cert_hash,
    file_name,
    pack_container,
    pae,
    sign_body,
)
from h7.cal.keys import key_id, public_b64, public_pem  # noqa: E402
from h7.cal.writer import (  # noqa: E402
    ChainPosition,
    build_accept_body,
    build_alert_body,
    build_lifecycle_body,
    build_operator_body,
)

SEED = hashlib.sha256(b"H7 .cal TEST VECTOR KEY - NEVER USE FOR REAL CERTIFICATES").digest()
OTHER_SEED = hashlib.sha256(b"H7 .cal SECOND TEST KEY - NEVER USE FOR REAL CERTIFICATES").digest()
HOST = "vector-host"
AGENT = AgentInfo(
    agent=1,
    agent_id="python3:4242:987654",
    root_pid=4242,
    exe="/usr/bin/python3.11",
    cmdline=["python3", "-m", "agent", "--task", "summarise inbox"],
    start_time_ns=9876540000000,
)
ALERT = Alert(
    channel="L4",
    code="UNKNOWN_DESTINATION",
    agent_id=AGENT.agent_id,
    ts_ns=1_732_700_000_123_456_789,
    divergence=0.9375,
    threshold=0.5,
    key="203.0.113.7:443",
    evidence={"dst": "203.0.113.7", "port": 443, "proto": "tcp", "seen_before": False, "score": -1.5},
    syscall_trace=[
        {"type": "syscall", "nr": 41, "name": "socket", "ts_ns": 1_732_700_000_120_000_000},
        {"type": "syscall", "nr": 42, "name": "connect", "ts_ns": 1_732_700_000_123_000_000},
        {"type": "net", "dst": "203.0.113.7", "port": 443, "ts_ns": 1_732_700_000_123_400_000},
    ],
    suppressed=2,
)
DROPS = {"events": 0, "syscalls": 17}
SENSOR = {
    "pid": 3100,
    "start_ticks": 123456,
    "boot_id": "5e0ad7c4-8f4e-4a4e-9d0b-2b1b3f6a7c11",
    "version": "0.1.0",
}
# Lifecycle records after the operator ones: (action, reason, details, count).
LIFECYCLE: list[tuple[str, str, dict[str, Any], int | None]] = [
    (
        SENSOR_RECOVERED,
        "previous sensor run ended without a stop record (crash, kill -9 or power loss); "
        "nothing was monitored from last_alive_ns until this record",
        {
            "previous_sensor": {**SENSOR, "pid": 3001, "start_ticks": 120000},
            "previous_started_ns": 1_732_700_100_000_000_000,
            "last_alive_ns": 1_732_700_200_000_000_000,
            "down_ns_at_most": 300_000_000,
            "same_boot": True,
            "uncertified_at_exit": 0,
        },
        None,
    ),
    (
        SENSOR_STARTED,
        "sensor started",
        {"agents": [AGENT.agent_id], "selectors": [], "baseline_from": ""},
        None,
    ),
    (
        DETECTIONS_UNCERTIFIED,
        "the cal directory refused writes for longer than the held alerts could wait in memory",
        {
            "first_ts_ns": 1_732_700_300_000_000_000,
            "last_ts_ns": 1_732_700_310_000_000_000,
            "by_channel": {"L3": 30, "L4": 9},
            "last_error": "cannot create .000000000009.cal.3100.tmp: No space left on device (disk full)",
        },
        39,
    ),
    (SENSOR_STOPPED, "sensor stopped (stopped)", {"alerts": 123, "cal_failed": 39, "drops": {}}, None),
]


def test_key(seed: bytes = SEED) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def valid_chain() -> list[tuple[str, dict[str, Any], bytes]]:
    """(name, body, file bytes) of a seven-certificate chain.

    An alert, a containment, a release, then the four lifecycle kinds.
    """
    key = test_key()
    kid = key_id(key.public_key())
    out: list[tuple[str, dict[str, Any], bytes]] = []
    body = build_alert_body(
        ALERT,
        AGENT,
        DROPS,
        at=ChainPosition(HOST, 1, ZERO_HASH, kid, 1_732_700_000_200_000_000),
    )
    out.append(("alert_seq1", body, sign_body(body, key)))
    for seq, action, reason, info in (
        (
            2,
            CONTAINED_BY_OPERATOR,
            "exfiltration suspected, ticket SEC-1234",
            {"method": "sigstop", "pids": [4242, 4243], "not_stopped": []},
        ),
        (3, RELEASED_BY_OPERATOR, "false positive: backup job", {"method": "sigcont", "pids": [4242, 4243]}),
    ):
        body = build_operator_body(
            action,
            AGENT.agent_id,
            reason,
            0,
            "alice",
            at=ChainPosition(HOST, seq, cert_hash(out[-1][2]), kid, 1_732_700_060_000_000_000 + seq),
            ts_ns=1_732_700_060_000_000_000 + seq,
            containment=info,
        )
        out.append((f"{action.lower()}_seq{seq}", body, sign_body(body, key)))
    for i, (action, reason, details, count) in enumerate(LIFECYCLE):
        seq = len(out) + 1
        body = build_lifecycle_body(
            action,
            SENSOR,
            reason,
            details,
            at=ChainPosition(HOST, seq, cert_hash(out[-1][2]), kid, 1_732_700_400_000_000_000 + i),
            ts_ns=1_732_700_400_000_000_000 + i,
            count=count,
        )
        out.append((f"{action.lower()}_seq{seq}", body, sign_body(body, key)))
    seq = len(out) + 1
    body = build_accept_body(
        AGENT.agent_id,
        "L4",
        "10.0.0.5:443",
        "vendor API approved, ticket SEC-1240",
        0,
        "alice",
        at=ChainPosition(HOST, seq, cert_hash(out[-1][2]), kid, 1_732_700_500_000_000_001),
        ts_ns=1_732_700_500_000_000_000,
    )
    out.append((f"accepted_by_operator_seq{seq}", body, sign_body(body, key)))
    return out


def _signed(body_bytes: bytes, key: Ed25519PrivateKey | None = None) -> bytes:
    k = key or test_key()
    return pack_container(body_bytes, k.sign(pae(PAYLOAD_TYPE, body_bytes)))


def invalid_vectors(first_file: bytes, first_body: dict[str, Any]) -> list[tuple[str, str, bytes]]:
    """(name, reason a verifier must give, file) — each must be rejected with the test public key.

    Most are validly signed with the test key, so a verifier that only checks
    the signature accepts them: they test the strictness after it.
    """
    good = canonical.encode(first_body)
    out: list[tuple[str, str, bytes]] = []

    def sub(old: bytes, new: bytes) -> bytes:
        assert good.count(old) == 1, old
        return good.replace(old, new)

    # Unsigned layer.
    out.append(("bad_magic", "bad magic", b"H7CAX" + first_file[5:]))
    out.append(("container_version_2", "container version", first_file[:7] + b"\x02" + first_file[8:]))
    out.append(("truncated", "length field", first_file[:-1]))
    out.append(("appended_byte", "length field", first_file + b"\x00"))
    flipped = bytearray(first_file)
    flipped[40] ^= 0x01
    out.append(("body_bit_flip", "signature", bytes(flipped)))
    flipped = bytearray(first_file)
    flipped[-1] ^= 0x80
    out.append(("signature_bit_flip", "signature", bytes(flipped)))
    out.append(("signed_by_other_key", "signature", _signed(good, test_key(OTHER_SEED))))
    # Validly signed, not canonical.
    items = list(first_body.items())
    reordered = bytearray([0xDE]) + len(items).to_bytes(2, "big")
    for k, v in reversed(sorted(items)):
        reordered += canonical.encode(k) + canonical.encode(v)
    out.append(("keys_reordered", "not in byte order", _signed(bytes(reordered))))
    out.append(("seq_uint16", "uint16", _signed(sub(b"\xa3seq\x01", b"\xa3seq\xcd\x00\x01"))))
    f32 = b"\xca" + struct.pack(">f", 0.9375)
    out.append(("divergence_float32", "float32", _signed(sub(b"\xcb" + struct.pack(">d", 0.9375), f32))))
    out.append(("host_str8", "str8", _signed(sub(b"\xabvector-host", b"\xd9\x0bvector-host"))))
    dup = bytearray([0xDE]) + (len(items) + 1).to_bytes(2, "big") + good[3:]
    dup += canonical.encode("version") + canonical.encode(1)
    out.append(("duplicate_key", "duplicate", _signed(bytes(dup))))
    out.append(("trailing_msgpack", "trailing", _signed(good + b"\xc0")))
    out.append(("version_2", "unknown format version", _signed(sub(b"\xa7version\x01", b"\xa7version\x02"))))
    other_kid = key_id(test_key(OTHER_SEED).public_key()).encode()
    out.append(("key_id_mismatch", "key_id", _signed(sub(first_body["key_id"].encode(), other_kid))))
    extra = dict(first_body, zzz_extra=1)
    out.append(("unknown_field", "unknown field", _signed(canonical.encode(extra))))
    missing = {k: v for k, v in first_body.items() if k != "drops"}
    out.append(("missing_field", "missing field", _signed(canonical.encode(missing))))
    nan = dict(first_body, divergence=float("nan"))
    nan_bytes = canonical.encode(nan).replace(
        b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01"
    )
    out.append(("noncanonical_nan", "NaN", _signed(nan_bytes)))
    out.append(("ext_type", "ext", _signed(sub(b"\xa5proto\xa3tcp", b"\xa5proto\xd4\x01\x00"))))
    out.append(("not_a_map", "not a msgpack map", _signed(canonical.encode([1, 2, 3]))))
    return out


def build() -> dict[str, Any]:
    key = test_key()
    pub = key.public_key()
    chain = valid_chain()
    return {
        "description": (
            "H7 .cal v1 known-answer vectors. The key is TEST-ONLY (its seed is public). "
            "Every 'valid' file must verify with public_key and decode to 'body'; every "
            "'invalid' file must be rejected. See docs/cal-format.md."
        ),
        "private_key_seed_hex": SEED.hex(),
        "public_key_hex": pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex(),
        "public_key_b64": public_b64(pub),
        "public_key_pem": public_pem(pub).decode("ascii"),
        "key_id": key_id(pub),
        "payload_type": PAYLOAD_TYPE,
        "valid": [
            {
                "name": name,
                "file_name": file_name(body["seq"]),
                "body_json": _jsonable(body),
                "body_hex": canonical.encode(body).hex(),
                "pae_hex": pae(PAYLOAD_TYPE, canonical.encode(body)).hex(),
                "signature_hex": data[-64:].hex(),
                "file_hex": data.hex(),
                "file_sha256": cert_hash(data).hex(),
            }
            for name, body, data in chain
        ],
        "invalid": [
            {"name": name, "must_mention": reason, "file_hex": data.hex()}
            for name, reason, data in invalid_vectors(chain[0][2], chain[0][1])
        ],
    }


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, dict):  # in canonical (UTF-8 byte) key order, like the body
        return {k: _jsonable(v[k]) for k in sorted(v, key=lambda k: k.encode("utf-8"))}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


def write(out_dir: Path = HERE) -> None:
    doc = build()
    (out_dir / "cal_v1.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out_dir / "cal_v1_test.pub").write_text(doc["public_key_pem"])
    (out_dir / "cal_v1_test.pub.b64").write_text(doc["public_key_b64"] + "\n")
    chain_dir = out_dir / "cal_v1_chain"
    chain_dir.mkdir(exist_ok=True)
    for v in doc["valid"]:
        (chain_dir / v["file_name"]).write_bytes(bytes.fromhex(v["file_hex"]))
    last = doc["valid"][-1]
    seq = int(last["file_name"].split(".")[0])
    (chain_dir / "HEAD").write_text(f"h7-cal-head 1 {seq} {last['file_sha256']}\n")


if __name__ == "__main__":
    write()
