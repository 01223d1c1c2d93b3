"""The documented openssl + coreutils recipe, run for real against real certificates."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_cal_support import make_chain

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "docs" / "cal-verify-openssl.sh"
VECTORS = REPO / "tests" / "vectors"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl binary not installed")


def _run(cert: Path, pub: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(SCRIPT), str(cert), str(pub)], capture_output=True, text=True, timeout=60
    )


def test_recipe_in_the_docs_is_the_tested_script() -> None:
    doc = (REPO / "docs" / "cal-format.md").read_text()
    assert "```sh\n" + SCRIPT.read_text() + "```" in doc


def test_openssl_is_version_3() -> None:
    out = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("OpenSSL 3"), out


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    root = tmp_path_factory.mktemp("openssl")
    _, _, pub, paths = make_chain(root, 2)
    return paths, pub


def test_recipe_accepts_real_certificates(chain: tuple[list[Path], Path]) -> None:
    paths, pub = chain
    for p in paths:
        r = _run(p, pub)
        assert r.returncode == 0, r.stderr
        assert "Signature Verified Successfully" in r.stdout


def test_recipe_accepts_the_known_answer_vectors() -> None:
    for p in sorted((VECTORS / "cal_v1_chain").glob("*.cal")):
        r = _run(p, VECTORS / "cal_v1_test.pub")
        assert r.returncode == 0, (p, r.stderr)


@pytest.mark.parametrize(
    "tamper",
    [
        "magic",
        "length",
        "body_first",
        "body_middle",
        "body_last",
        "sig_first",
        "sig_last",
        "append",
        "truncate",
    ],
)
def test_recipe_rejects_tampered_certificates(
    chain: tuple[list[Path], Path], tmp_path: Path, tamper: str
) -> None:
    paths, pub = chain
    data = bytearray(paths[0].read_bytes())
    n = len(data)
    flips = {
        "magic": 2,
        "length": 11,
        "body_first": 12,
        "body_middle": (12 + n - 64) // 2,
        "body_last": n - 65,
        "sig_first": n - 64,
        "sig_last": n - 1,
    }
    if tamper in flips:
        data[flips[tamper]] ^= 0x01
    elif tamper == "append":
        data += b"\x00"
    else:
        data = data[:-1]
    bad = tmp_path / "bad.cal"
    bad.write_bytes(bytes(data))
    r = _run(bad, pub)
    assert r.returncode != 0
    assert "Signature Verified Successfully" not in r.stdout


def test_recipe_rejects_the_wrong_key(chain: tuple[list[Path], Path]) -> None:
    paths, _ = chain
    r = _run(paths[0], VECTORS / "cal_v1_test.pub")
    assert r.returncode != 0
