"""Key files: safe modes, no overwrite, every publishable public form loads."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from h7.cal import keygen, load_private_key, load_public_key
from h7.cal.keys import ensure_dir, key_id, raw_public_bytes
from h7.errors import StorageError, UsageError


def test_keygen_writes_private_0600_and_public_forms(tmp_path: Path) -> None:
    out = tmp_path / "a" / "keys"
    priv, pem = keygen(out)
    assert stat.S_IMODE(os.stat(priv).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o700
    assert pem.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    b64 = (out / "h7.pub.b64").read_text().strip()
    key = load_private_key(priv)
    raw = raw_public_bytes(key.public_key())
    assert base64.b64decode(b64) == raw
    for form in (pem, out / "h7.pub.b64"):
        assert raw_public_bytes(load_public_key(form)) == raw


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    priv, _ = keygen(tmp_path)
    before = priv.read_bytes()
    with pytest.raises(UsageError, match="refusing to overwrite"):
        keygen(tmp_path)
    assert priv.read_bytes() == before


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o602, 0o610])
def test_group_or_world_accessible_key_is_refused(tmp_path: Path, mode: int) -> None:
    priv, _ = keygen(tmp_path)
    os.chmod(priv, mode)
    with pytest.raises(StorageError, match="refusing to sign"):
        load_private_key(priv)


def test_missing_symlinked_or_garbage_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="h7 keygen"):
        load_private_key(tmp_path / "nope")
    priv, _ = keygen(tmp_path / "k")
    link = tmp_path / "link.key"
    link.symlink_to(priv)
    with pytest.raises(StorageError):
        load_private_key(link)
    junk = tmp_path / "junk.key"
    junk.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    os.chmod(junk, 0o600)
    with pytest.raises(StorageError) as ei:
        load_private_key(junk)
    assert "not a key" not in str(ei.value)  # never echo key file content


def test_public_key_forms(tmp_path: Path) -> None:
    priv, pem = keygen(tmp_path)
    pub = load_private_key(priv).public_key()
    raw = raw_public_bytes(pub)
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for data in (raw, der, base64.b64encode(raw), base64.b64encode(der) + b"\n", pem.read_bytes()):
        assert key_id(load_public_key(data)) == key_id(pub)
    for bad in (b"", b"x" * 31, b"!!!", base64.b64encode(b"y" * 33)):
        with pytest.raises(UsageError):
            load_public_key(bad)
    with pytest.raises(UsageError, match="no public key"):
        load_public_key(tmp_path / "missing.pub")
    # A private key is not a public key.
    with pytest.raises(UsageError):
        load_public_key(priv)


def test_ensure_dir_does_not_loosen_existing(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir(mode=0o700)
    ensure_dir(d, 0o755)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(StorageError):
        ensure_dir(f, 0o700)


def test_a_key_of_an_unknown_algorithm_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """One bit of the Ed25519 OID flipped (1.3.101.112 -> 1.3.100.112): the key is well formed but its
    algorithm unknown, and cryptography raises UnsupportedAlgorithm, not ValueError (test_fuzz_readers
    hit it as `h7 verify --pubkey` tracebacks when its time budget reached those bit flips)."""
    pub = tmp_path / "k.pub"
    keygen(tmp_path / "keys")
    der = serialization.load_pem_public_key((tmp_path / "keys" / "h7.pub").read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    bad = bytearray(der)
    assert bad[5:9] == bytes.fromhex("032b6570")
    bad[7] ^= 0x01
    pub.write_bytes(
        b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(bytes(bad)) + b"-----END PUBLIC KEY-----\n"
    )
    with pytest.raises(UsageError, match="not a valid PEM public key"):
        load_public_key(pub)
