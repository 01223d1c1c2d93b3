"""The host's Ed25519 signing key: creation, safe loading, publishable forms.

The private key is the only thing that makes a certificate evidence, so
H7 refuses to sign with a key file anyone but its owner could read (a
copied key makes every certificate deniable), and nothing in this module
ever formats the private key for output.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from h7.errors import PermissionDenied, StorageError, UsageError
from h7.paths import DEFAULT_KEY_DIR
from h7.safeio import fsync_dir, read_regular

PRIVATE_NAME = "h7.key"
PUBLIC_PEM_NAME = "h7.pub"
PUBLIC_B64_NAME = "h7.pub.b64"
MAX_PUBLIC_KEY_FILE = 65536  # PEM/DER/base64 of a 32-byte key is < 200 bytes; this is generous

# DER SubjectPublicKeyInfo prefix for Ed25519 (RFC 8410); the raw key follows.
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def raw_public_bytes(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(pub: Ed25519PublicKey) -> str:
    """First 8 bytes of SHA-256(raw public key), hex: a hint for picking keys, never trusted."""
    return hashlib.sha256(raw_public_bytes(pub)).hexdigest()[:16]


def public_pem(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_b64(pub: Ed25519PublicKey) -> str:
    return base64.b64encode(raw_public_bytes(pub)).decode("ascii")


def ensure_dir(path: Path, mode: int) -> Path:
    """Create ``path`` (and missing parents) with ``mode``; never loosen an existing dir.

    Parents we create get the same restrictive mode: /var/lib/h7 holding
    keys and evidence has no business being world-listable.
    """
    path = Path(path)
    missing: list[Path] = []
    p = path
    for _ in range(64):
        if p.exists():
            break
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, mode)
            os.chmod(d, mode)  # mkdir's mode is filtered by the umask
        except FileExistsError:
            pass
        except OSError as e:
            raise StorageError(f"cannot create {d}: {e.strerror}") from None
    if not path.is_dir():
        raise StorageError(f"{path} is not a directory")
    return path


def check_private_dir(path: Path, what: str) -> None:
    """Refuse a directory others could write: they could delete, replace or plant files in it.

    Group- or world-writable (sticky or not), or owned by a user other than
    us or root, is refused with one line saying how to fix it.  Checked on
    the directory itself (lstat: a symlinked directory is judged by its
    target's own checks, as the kernel resolves it).
    """
    try:
        st = os.stat(path)
    except OSError as e:
        raise StorageError(f"cannot inspect {what} {path}: {e.strerror}") from None
    if st.st_mode & 0o022:
        raise StorageError(
            f"{what} {path} is group- or world-writable (mode {stat.S_IMODE(st.st_mode):04o}): others could "
            f"delete or plant files in it; chmod go-w {path}"
        )
    if st.st_uid not in (0, os.geteuid()):
        raise StorageError(f"{what} {path} is owned by uid {st.st_uid}, not by this user or root")


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` exclusively with ``mode`` from the first byte, fsync it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except FileExistsError:
        raise UsageError(f"{path} already exists; refusing to overwrite a key") from None
    except OSError as e:
        raise StorageError(f"cannot create {path}: {e.strerror}") from None
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except OSError as e:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise StorageError(f"cannot write {path}: {e.strerror}") from None
    os.close(fd)


def keygen(out_dir: Path | str = DEFAULT_KEY_DIR) -> tuple[Path, Path]:
    """Create ``h7.key`` (PKCS#8 PEM, 0600), ``h7.pub`` (PEM) and ``h7.pub.b64`` (raw, base64).

    Refuses to overwrite: replacing a key silently would orphan every
    certificate signed so far.  Returns (private path, public PEM path).
    """
    out = ensure_dir(Path(out_dir), 0o700)
    priv_path = out / PRIVATE_NAME
    pem_path = out / PUBLIC_PEM_NAME
    b64_path = out / PUBLIC_B64_NAME
    for p in (priv_path, pem_path, b64_path):
        if p.exists() or p.is_symlink():
            raise UsageError(f"{p} already exists; refusing to overwrite a key")
    key = Ed25519PrivateKey.generate()
    pub = key.public_key()
    secret = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_new(priv_path, secret, 0o600)
    del secret
    _write_new(pem_path, public_pem(pub), 0o644)
    _write_new(b64_path, (public_b64(pub) + "\n").encode("ascii"), 0o644)
    fsync_dir(out)
    return priv_path, pem_path


def load_private_key(path: Path | str) -> Ed25519PrivateKey:
    """Load the signing key, refusing files that group or others could read or write.

    The check runs on the open file descriptor (fstat), so a file swapped
    between the check and the read cannot slip through.
    """
    path = Path(path)
    try:
        # O_NONBLOCK: a FIFO planted as the key must be refused, not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UsageError(f"no signing key at {path}; create one with 'h7 keygen'") from None
    except PermissionError:
        who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"
        raise PermissionDenied(
            f"cannot read signing key {path} as {who}: signing needs the key's owner (usually root; try sudo)"
        ) from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise StorageError(f"signing key {path} is a symbolic link; refusing it") from None
        raise StorageError(f"cannot open signing key {path}: {e.strerror}") from None
    try:
        # after the open: a user who cannot reach the key gets the permission line above
        check_private_dir(path.parent, "key directory")
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StorageError(f"signing key {path} is not a regular file")
        if st.st_mode & 0o077:
            raise StorageError(
                f"signing key {path} has mode {stat.S_IMODE(st.st_mode):04o}; "
                "refusing to sign with a key group or others can access (chmod 600 it)"
            )
        if st.st_uid != os.geteuid():
            raise StorageError(f"signing key {path} is owned by uid {st.st_uid}, not by this user")
        if st.st_size > 16384:
            raise StorageError(f"signing key {path} is too large to be an Ed25519 key")
        data = b""
        for _ in range(64):
            chunk = os.read(fd, 16384)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):  # (a well-formed key of an unknown algorithm OID)
        # Deliberately no detail: the message must not echo key material.
        raise StorageError(f"signing key {path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StorageError(f"signing key {path} is not an Ed25519 key")
    return key


def parse_public_key(data: bytes) -> Ed25519PublicKey:
    """Accept every publishable form: PEM, DER SPKI, raw 32 bytes, or base64 of raw/DER."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text)
        except (
            ValueError,
            TypeError,
            UnsupportedAlgorithm,
        ):  # (a well-formed key of an unknown algorithm OID)
            raise UsageError("public key: not a valid PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise UsageError("public key: not an Ed25519 key")
        return key
    raw = bytes(data)
    if len(raw) != 32 and not (len(raw) == 44 and raw.startswith(_ED25519_SPKI_PREFIX)):
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise UsageError("public key: not PEM, DER, raw or base64") from None
    if len(raw) == 44 and raw.startswith(_ED25519_SPKI_PREFIX):
        raw = raw[len(_ED25519_SPKI_PREFIX) :]
    if len(raw) != 32:
        raise UsageError("public key: an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def load_public_key(source: Path | str | bytes | Ed25519PublicKey) -> Ed25519PublicKey:
    """A public key from a key object, raw 32 bytes, or a file in any published form."""
    if isinstance(source, Ed25519PublicKey):
        return source
    if isinstance(source, bytes):
        return parse_public_key(source)
    path = Path(source)
    try:
        data = read_regular(path, MAX_PUBLIC_KEY_FILE, "public key")
    except FileNotFoundError:
        raise UsageError(f"no public key at {path}") from None
    except OSError as e:
        raise UsageError(f"cannot read public key {path}: {e.strerror}") from None
    try:
        return parse_public_key(data)
    except UsageError as e:
        raise UsageError(f"{path}: {e}") from None
