"""Known-answer vectors: the checked-in bytes are exactly what this implementation produces and accepts."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from h7.cal import canonical, verify_bytes, verify_chain
from h7.cal.format import PAYLOAD_TYPE, pae
from h7.cal.keys import key_id, load_public_key, public_pem
from h7.errors import VerificationError

VECTORS = Path(__file__).resolve().parent / "vectors"
sys.path.insert(0, str(VECTORS))

import make_cal_vectors  # noqa: E402

DOC = json.loads((VECTORS / "cal_v1.json").read_text())


def test_regenerating_gives_identical_vectors() -> None:
    assert make_cal_vectors.build() == DOC


def test_key_material_is_consistent() -> None:
    key = make_cal_vectors.test_key()
    pub = key.public_key()
    assert (
        hashlib.sha256(b"H7 .cal TEST VECTOR KEY - NEVER USE FOR REAL CERTIFICATES").hexdigest()
        == (DOC["private_key_seed_hex"])
    )
    assert key_id(pub) == DOC["key_id"]
    assert public_pem(pub).decode() == DOC["public_key_pem"] == (VECTORS / "cal_v1_test.pub").read_text()
    for src in (
        VECTORS / "cal_v1_test.pub",
        VECTORS / "cal_v1_test.pub.b64",
        bytes.fromhex(DOC["public_key_hex"]),
    ):
        assert key_id(load_public_key(src)) == DOC["key_id"]
    assert DOC["payload_type"] == PAYLOAD_TYPE


@pytest.mark.parametrize("vec", DOC["valid"], ids=lambda v: v["name"])
def test_valid_vectors(vec: dict[str, object]) -> None:
    pub = load_public_key(bytes.fromhex(DOC["public_key_hex"]))
    data = bytes.fromhex(str(vec["file_hex"]))
    body = bytes.fromhex(str(vec["body_hex"]))
    cert = verify_bytes(data, pub)
    assert cert.body_bytes == body
    assert canonical.encode(cert.body) == body
    assert pae(PAYLOAD_TYPE, body).hex() == vec["pae_hex"]
    assert cert.signature.hex() == vec["signature_hex"]
    assert hashlib.sha256(data).hexdigest() == vec["file_sha256"]
    assert (VECTORS / "cal_v1_chain" / str(vec["file_name"])).read_bytes() == data


@pytest.mark.parametrize("vec", DOC["invalid"], ids=lambda v: v["name"])
def test_invalid_vectors(vec: dict[str, str]) -> None:
    pub = load_public_key(bytes.fromhex(DOC["public_key_hex"]))
    with pytest.raises(VerificationError) as ei:
        verify_bytes(bytes.fromhex(vec["file_hex"]), pub)
    assert vec["must_mention"].lower() in str(ei.value).lower()


def test_vector_chain_directory_verifies() -> None:
    r = verify_chain(VECTORS / "cal_v1_chain", VECTORS / "cal_v1_test.pub")
    assert r.ok and r.count == 8
    assert len(r.lifecycle) == 4 and any(
        "39 detection(s) have no certificate" in x for x in r.lifecycle_lines()
    )
    assert r.head_hash.hex() == DOC["valid"][-1]["file_sha256"]
