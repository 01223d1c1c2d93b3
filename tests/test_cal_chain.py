"""Chain verification: every deletion, insertion, swap or modification is found; truncation needs a head."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cal_support import make_chain, make_keys, sample_agent, sample_alert

from h7.cal import CalWriter, verify_chain
from h7.cal.format import file_name
from h7.errors import UsageError

N = 8


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("chain")
    cal, priv, pub, _ = make_chain(root, N)
    return cal, priv, pub


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory, chain: tuple[Path, Path, Path]) -> Path:
    """A second chain signed with the same key (same host key, different history)."""
    _, priv, _ = chain
    root = tmp_path_factory.mktemp("foreign")
    with CalWriter(root / "cal", priv, host="test-host") as w:
        for i in range(N):
            w.emit(sample_alert(1000 + i), sample_agent(), {"events": 1})
    return root / "cal"


def _copy(cal: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "cal"
        shutil.copytree(cal, dst)
        yield dst


def test_intact_chain(chain: tuple[Path, Path, Path]) -> None:
    cal, _, pub = chain
    r = verify_chain(cal, pub)
    assert r.ok and r.count == N and r.head_seq == N and r.first_break is None
    assert "cannot show that its newest certificates were deleted" in r.note
    assert verify_chain(cal, pub, expect_head=r.head).ok
    assert verify_chain(cal, pub, expect_head=r.head_hash.hex()).ok


settings_fs = settings(
    deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@given(st.integers(1, N - 1))
@settings_fs
def test_deleting_any_but_the_newest_is_detected(chain: tuple[Path, Path, Path], k: int) -> None:
    cal, _, pub = chain
    for d in _copy(cal):
        (d / file_name(k)).unlink()
        (d / "HEAD").unlink()  # the attacker also removes the writer's own record
        r = verify_chain(d, pub)
        assert not r.ok
        assert r.first_break is not None and r.first_break.seq == k + 1
        assert "missing" in r.first_break.reason


@given(st.integers(1, 3))
@settings_fs
def test_truncating_the_newest_needs_expect_head(chain: tuple[Path, Path, Path], n: int) -> None:
    cal, _, pub = chain
    head = verify_chain(cal, pub).head
    for d in _copy(cal):
        for s in range(N - n + 1, N + 1):
            (d / file_name(s)).unlink()
        (d / "HEAD").unlink()
        r0 = verify_chain(d, pub)  # a careless truncation: the missing HEAD shows
        assert not r0.ok and "HEAD is missing" in r0.lines()[0]
        # A careful one rewrites HEAD too: what a chain alone cannot show.
        newest = (d / file_name(N - n)).read_bytes()
        (d / "HEAD").write_text(f"h7-cal-head 1 {N - n} {hashlib.sha256(newest).hexdigest()}\n")
        assert verify_chain(d, pub).ok
        r = verify_chain(d, pub, expect_head=head)
        assert not r.ok and r.first_break is not None
        assert f"newest {n} certificate(s) were deleted" in r.first_break.reason
        r2 = verify_chain(d, pub, expect_head=head.split(":")[1])
        assert not r2.ok and "not found" in r2.lines()[0]


@given(st.integers(1, N), st.integers(1, N))
@settings_fs
def test_swapping_two_certificates_is_detected(chain: tuple[Path, Path, Path], a: int, b: int) -> None:
    cal, _, pub = chain
    if a == b:
        return
    for d in _copy(cal):
        pa, pb = d / file_name(a), d / file_name(b)
        da, db = pa.read_bytes(), pb.read_bytes()
        pa.write_bytes(db)
        pb.write_bytes(da)
        r = verify_chain(d, pub)
        assert not r.ok
        assert r.first_break is not None and r.first_break.seq == min(a, b)
        assert "file name does not match" in r.first_break.reason


@given(st.integers(1, N), st.sampled_from(["copy", "renamed"]))
@settings_fs
def test_inserting_a_validly_signed_certificate_is_detected(
    chain: tuple[Path, Path, Path], foreign: Path, k: int, how: str
) -> None:
    """Even signed by the right key: a certificate from another history does not fit."""
    cal, _, pub = chain
    for d in _copy(cal):
        src = foreign / file_name(k)
        if how == "copy":
            shutil.copy(src, d / f"extra-{k}.cal")
        else:  # replace the original in place: same name, same seq, other content
            shutil.copy(src, d / file_name(k))
        r = verify_chain(d, pub)
        assert not r.ok
        assert r.first_break is not None and r.first_break.seq in (k, k + 1)


@given(st.integers(1, N), st.integers(0, 10_000), st.integers(0, 7))
@settings_fs
def test_modifying_any_certificate_is_detected(
    chain: tuple[Path, Path, Path], k: int, pos: int, bit: int
) -> None:
    cal, _, pub = chain
    for d in _copy(cal):
        p = d / file_name(k)
        data = bytearray(p.read_bytes())
        data[pos % len(data)] ^= 1 << bit
        p.write_bytes(bytes(data))
        r = verify_chain(d, pub)
        assert not r.ok
        assert r.first_break is not None and r.first_break.seq == k
        lines = r.lines()
        assert any(str(p) in line for line in lines)


def test_wrong_key_reports_every_file(chain: tuple[Path, Path, Path], tmp_path: Path) -> None:
    cal, _, _ = chain
    _, other_pub = make_keys(tmp_path)
    r = verify_chain(cal, other_pub)
    assert not r.ok and len(r.lines()) == N
    assert all("signature does not verify" in line for line in r.lines())


def test_non_certificate_files_are_ignored_and_bad_head_spec_refused(
    chain: tuple[Path, Path, Path],
) -> None:
    cal, _, pub = chain
    for d in _copy(cal):
        (d / "README").write_text("x")
        (d / ".000000000009.cal.1.tmp").write_bytes(b"partial")
        assert verify_chain(d, pub).ok
    with pytest.raises(UsageError):
        verify_chain(cal, pub, expect_head="nothex")
    with pytest.raises(UsageError):
        verify_chain(cal / "nope", pub)


def test_empty_directory_is_not_an_ok_chain(tmp_path: Path) -> None:
    """An empty (or wrong) directory proves nothing: "OK chain of 0" would read as a clean bill."""
    _, pub = make_keys(tmp_path)
    (tmp_path / "cal").mkdir()
    r = verify_chain(tmp_path / "cal", pub)
    assert not r.ok and r.count == 0 and "no certificates" in r.lines()[0]
    assert not verify_chain(tmp_path / "cal", pub, expect_head="1:" + "00" * 32).ok


def test_a_chain_being_written_verifies_while_an_append_lands(
    chain: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`h7 verify` on a running sensor's directory: an append between the listing and the HEAD
    read must not read as truncation (seen in a 7.3 guest: "HEAD records seq 5 but the newest
    certificate is seq 4")."""
    import h7.cal.chain as chain_mod

    cal, priv, pub = chain
    listed = chain_mod._list_certs
    for d in _copy(cal):
        with CalWriter(d, priv, host="test-host") as w:

            def list_then_append(directory: Path, listed: Any = listed) -> list[Path]:
                paths = listed(directory)
                w.emit(sample_alert(5000), sample_agent(), {"events": 1})  # the writer moves HEAD
                return paths

            monkeypatch.setattr(chain_mod, "_list_certs", list_then_append)
            r = verify_chain(d, pub)
            monkeypatch.setattr(chain_mod, "_list_certs", listed)
        assert r.ok, r.lines()
        assert r.head_seq == N
        assert verify_chain(d, pub).head_seq == N + 1  # the append itself is a valid link
