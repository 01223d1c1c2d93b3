"""The h7 CLI surface of the .cal subsystem, through click's CliRunner and the real h7 group."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_cal_contain import _states, _wait_for, spawn_tree
from test_cal_support import make_chain

from h7.cal import verify_chain
from h7.cal.format import file_name
from h7.cli import main


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.output


def test_commands_are_registered() -> None:
    for name in ("keygen", "verify", "show", "contain", "release", "accept"):
        assert name in main.commands


def test_keygen_never_prints_the_private_key(tmp_path: Path) -> None:
    code, out = _run("keygen", "--out", str(tmp_path / "k"))
    assert code == 0, out
    priv = (tmp_path / "k" / "h7.key").read_text()
    secret_lines = [ln for ln in priv.splitlines() if not ln.startswith("-----")]
    assert secret_lines and not any(ln in out for ln in secret_lines)
    assert "PRIVATE" not in out
    assert stat.S_IMODE(os.stat(tmp_path / "k" / "h7.key").st_mode) == 0o600
    assert (tmp_path / "k" / "h7.pub.b64").read_text().strip() in out
    code, out = _run("keygen", "--out", str(tmp_path / "k"))
    assert code == 2 and "h7: error:" in out and "refusing to overwrite" in out


@pytest.fixture
def chain(tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    cal, _, pub, paths = make_chain(tmp_path, 4)
    return cal, pub, paths


def test_verify_file_and_directory(chain: tuple[Path, Path, list[Path]]) -> None:
    cal, pub, paths = chain
    code, out = _run("verify", str(paths[0]), "--pubkey", str(pub))
    assert code == 0 and f"{paths[0]}: OK seq 1 ALERT_EMITTED" in out
    code, out = _run("verify", str(cal), "--pubkey", str(pub))
    assert code == 0 and "OK chain of 4 certificate(s)" in out
    assert "cannot show that its newest certificates were deleted" in out
    head = verify_chain(cal, pub).head
    code, out = _run("verify", str(cal), "--pubkey", str(pub), "--expect-head", head)
    assert code == 0 and "expected head present" in out


def test_verify_reports_one_line_per_bad_file_and_exit_4(chain: tuple[Path, Path, list[Path]]) -> None:
    cal, pub, paths = chain
    for p in (paths[1], paths[3]):
        data = bytearray(p.read_bytes())
        data[20] ^= 0x40
        p.write_bytes(bytes(data))
    code, out = _run("verify", str(cal), "--pubkey", str(pub))
    assert code == 4
    bad = [ln for ln in out.splitlines() if "signature does not verify" in ln and not ln.startswith("h7:")]
    assert len(bad) == 2
    assert str(paths[1]) in bad[0] and str(paths[3]) in bad[1]
    assert out.splitlines()[-1].startswith("h7: error: ")
    code, out = _run("verify", str(paths[1]), str(paths[0]), "--pubkey", str(pub))
    assert code == 4 and f"{paths[0]}: OK" in out and f"{paths[1]}: signature" in out


def test_verify_detects_truncation_only_with_expect_head(chain: tuple[Path, Path, list[Path]]) -> None:
    cal, pub, paths = chain
    head = verify_chain(cal, pub).head
    paths[-1].unlink()
    (cal / "HEAD").unlink()
    code, out = _run("verify", str(cal), "--pubkey", str(pub))
    assert code == 4 and "HEAD is missing" in out  # careless truncation shows
    newest = paths[-2].read_bytes()
    (cal / "HEAD").write_text(f"h7-cal-head 1 {len(paths) - 1} {hashlib.sha256(newest).hexdigest()}\n")
    code, _ = _run("verify", str(cal), "--pubkey", str(pub))
    assert code == 0  # careful truncation (HEAD rewritten) does not, without --expect-head
    code, out = _run("verify", str(cal), "--pubkey", str(pub), "--expect-head", head)
    assert code == 4 and "truncation" in out
    code, out = _run("verify", str(cal), "--pubkey", str(pub), "--expect-head", "zz")
    assert code == 2


def test_show_verifies_then_prints(chain: tuple[Path, Path, list[Path]], tmp_path: Path) -> None:
    _, pub, paths = chain
    code, out = _run("show", str(paths[2]), "--pubkey", str(pub))
    assert code == 0
    for s in ("seq 3", "ALERT_EMITTED", "UNKNOWN_DESTINATION", "python3:4242:987654", "signature valid"):
        assert s in out
    code, out = _run("show", str(paths[2]), "--pubkey", str(pub), "--json")
    assert code == 0 and json.loads(out)["seq"] == 3
    bad = tmp_path / "bad.cal"
    bad.write_bytes(paths[2].read_bytes()[:-1])
    code, out = _run("show", str(bad), "--pubkey", str(pub))
    assert code == 4 and out.startswith("h7: error:") and "ALERT_EMITTED" not in out


def test_contain_and_release_through_the_cli(tmp_path: Path) -> None:
    code, _ = _run("keygen", "--out", str(tmp_path / "k"))
    assert code == 0
    key, pub, cal = tmp_path / "k" / "h7.key", tmp_path / "k" / "h7.pub", tmp_path / "cal"
    with spawn_tree() as p:
        code, out = _run(
            "contain",
            str(p.pid),
            "--reason",
            "exfil to 203.0.113.7",
            "--key",
            str(key),
            "--cal-dir",
            str(cal),
        )
        assert code == 0, out
        assert "contained" in out and "signed record" in out
        assert all(s == "T" for s in _states(p.pid).values())
        agent_id = out.split()[1]
        code, out = _run(
            "release", agent_id, "--reason", "ok after review", "--key", str(key), "--cal-dir", str(cal)
        )
        assert code == 0, out
        assert _wait_for(lambda: all(s != "T" for s in _states(p.pid).values()))
    code, out = _run("show", str(cal / file_name(1)), "--pubkey", str(pub))
    assert "CONTAINED_BY_OPERATOR" in out and "exfil to 203.0.113.7" in out and "uid 0" in out
    code, out = _run("show", str(cal / file_name(2)), "--pubkey", str(pub))
    assert "RELEASED_BY_OPERATOR" in out and "ok after review" in out
    assert verify_chain(cal, pub).count == 2


def test_contain_refuses_without_key_or_reason(tmp_path: Path) -> None:
    code, out = _run(
        "contain", "12345", "--reason", "x", "--key", str(tmp_path / "none"), "--cal-dir", str(tmp_path)
    )
    assert code == 2 and "h7 keygen" in out
    code, out = _run("contain", "12345")
    assert code == 2 and "--reason" in out


def test_verify_refuses_an_empty_directory(tmp_path: Path, chain: tuple[Path, Path, list[Path]]) -> None:
    _, pub, _ = chain
    (tmp_path / "empty").mkdir()
    code, out = _run("verify", str(tmp_path / "empty"), "--pubkey", str(pub))
    assert code == 4 and "OK chain of 0" not in out and "no certificates" in out
