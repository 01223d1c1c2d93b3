"""Unsafe directories and planted files: refused with one line, never waited on.

Real directories with real modes, a real FIFO, and the real CLI.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_cal_support import make_chain, make_keys, sample_agent, sample_alert

from h7.cal import CalWriter
from h7.cli import main
from h7.errors import StorageError
from h7.sink.spool import Spool

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args))
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.output


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_writable_cal_directory_is_refused(tmp_path: Path, mode: int) -> None:
    priv, _ = make_keys(tmp_path)
    cal = tmp_path / "cal"
    cal.mkdir()
    os.chmod(cal, mode)
    with pytest.raises(StorageError, match="group- or world-writable"):
        CalWriter(cal, priv)
    code, out = cli("contain", str(os.getpid()), "--reason", "x", "--key", str(priv), "--cal-dir", str(cal))
    assert code == 6 and "h7: error: cal directory" in out and "chmod go-w" in out
    assert list(cal.iterdir()) == []  # nothing written, nothing acted on


def test_writable_key_directory_is_refused(tmp_path: Path) -> None:
    priv, _ = make_keys(tmp_path)
    os.chmod(priv.parent, 0o777)
    with pytest.raises(StorageError, match=r"key directory .* group- or world-writable"):
        CalWriter(tmp_path / "cal", priv)


def test_writable_spool_directory_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "spool"
    d.mkdir()
    os.chmod(d, 0o770)
    with pytest.raises(StorageError, match="group- or world-writable"):
        Spool(d, 1 << 20)


def test_verify_warns_about_a_writable_directory(tmp_path: Path) -> None:
    cal, _, pub, _ = make_chain(tmp_path, 2)
    os.chmod(cal, 0o777)
    code, out = cli("verify", str(cal), "--pubkey", str(pub))
    assert code == 0 and "world-writable" in out and "--expect-head" in out


def test_fifo_named_like_a_certificate_stops_the_writer_with_one_line(tmp_path: Path) -> None:
    cal, priv, pub, _ = make_chain(tmp_path, 2)
    os.mkfifo(cal / "000000000003.cal")
    t0 = time.monotonic()
    with pytest.raises(StorageError, match="FIFO"), CalWriter(cal, priv) as w:
        w.emit(sample_alert(9), sample_agent(), {})
    assert time.monotonic() - t0 < 5
    code, out = cli("verify", str(cal), "--pubkey", str(pub))
    assert code == 4 and "000000000003.cal" in out and "FIFO" in out


def test_fifo_and_symlink_in_the_spool_are_set_aside_not_read(tmp_path: Path) -> None:
    d = tmp_path / "spool"
    sp = Spool(d, 1 << 20)
    sp.append({"id": "a", "n": 1})
    sp.close()
    os.mkfifo(d / f"{5:016d}.alert")
    (d / f"{6:016d}.alert").symlink_to("/dev/zero")
    t0 = time.monotonic()
    sp = Spool(d, 1 << 20)
    got = []
    while (e := sp.peek()) is not None:
        got.append(e.record["n"])
        sp.remove(e.seq)
    sp.close()
    assert got == [1] and time.monotonic() - t0 < 5
    assert sp.quarantined == 2
    aside = sorted(p.name for p in (d / "corrupt").iterdir())
    assert aside == [f"{5:016d}.alert", f"{6:016d}.alert"]
    assert stat.S_ISFIFO((d / "corrupt" / aside[0]).lstat().st_mode)


def test_attach_with_a_world_writable_cal_dir_is_one_line(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("h7 attach refuses non-root first")
    priv, _ = make_keys(tmp_path)
    cal = tmp_path / "cal"
    cal.mkdir()
    os.chmod(cal, 0o777)
    p = subprocess.run(
        [sys.executable, "-m", "h7", "attach", str(os.getpid()), "--key", str(priv), "--cal-dir", str(cal),
         "--spool-dir", str(tmp_path / "spool"), "--sink", str(tmp_path / "s.sock")],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 6 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("h7: error: cal directory")
