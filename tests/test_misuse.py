"""Misuse gets one clear line: whole-host targets need a flag, non-root users are told why.

The unprivileged cases really run as the ``nobody`` user (runuser), against a
root-owned key, as an operator without sudo would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from h7.cal import keygen

REPO = Path(__file__).resolve().parent.parent


def h7(*args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "h7", *args]
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)


def one_line_error(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode != 0
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("h7: error: "), p.stderr
    return lines[-1]


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    priv, _ = keygen(tmp_path / "keys")
    return priv


def test_pid1_needs_an_explicit_flag(tmp_path: Path, keys: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the root check comes first for non-root users")
    err = one_line_error(h7("attach", "1", "--key", str(keys), "--cal-dir", str(tmp_path / "cal")))
    assert "whole host" in err and "--allow-host-wide" in err
    err = one_line_error(
        h7("attach", "--cgroup", "/", "--key", str(keys), "--cal-dir", str(tmp_path / "cal"))
    )
    assert "whole host" in err and "--allow-host-wide" in err
    assert not (tmp_path / "cal").exists()  # refused before anything was written


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root and runuser")
@pytest.mark.usefixtures("nobody_reaches_checkout")
def test_unprivileged_user_gets_a_clear_line(tmp_path: Path, keys: Path) -> None:
    os.chmod(tmp_path, 0o755)  # nobody may traverse to the (0700) key directory, not into it
    cal = tmp_path / "cal"
    p = h7("attach", str(os.getpid()), "--key", str(keys), "--cal-dir", str(cal), user="nobody")
    assert "needs root" in one_line_error(p)
    p = h7(
        "contain", str(os.getpid()), "--reason", "x", "--key", str(keys), "--cal-dir", str(cal), user="nobody"
    )
    assert "cannot read signing key" in one_line_error(p)
    p = h7("verify", str(cal), "--pubkey", str(keys.parent / "h7.pub"), user="nobody")
    assert "public key" in one_line_error(p)
    p = h7("doctor", user="nobody")  # a report, not an error: what it could not check, and why
    assert p.returncode == 3 and "Traceback" not in p.stderr, p
    assert "problem: not root" in p.stdout and "tracefs                      None" in p.stdout, p.stdout


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_root_without_bpf_capabilities_gets_one_line(tmp_path: Path, keys: Path) -> None:
    """Root under a container-like bounding set (no CAP_BPF/PERFMON/SYS_ADMIN): the EPERM, named."""
    agent = subprocess.Popen(["sleep", "60"])
    try:
        p = subprocess.run(
            ["setpriv", "--inh-caps=-all", "--bounding-set=-bpf,-perfmon,-sys_admin", "--",
             sys.executable, "-m", "h7", "attach", str(agent.pid), "--duration", "5s",
             "--key", str(keys), "--cal-dir", str(tmp_path / "cal"), "--sink", str(tmp_path / "s.sock"),
             "--spool-dir", str(tmp_path / "spool"), "--status-file", str(tmp_path / "status.json")],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        agent.kill()
        agent.wait()
    assert p.returncode == 3, p
    assert p.stderr.count("\n") == 1, p.stderr  # libbpf's own log stays out of it
    assert "refused BPF (EPERM)" in one_line_error(p) and "lacks CAP_BPF and CAP_PERFMON" in p.stderr
    assert not list((tmp_path / "cal").glob("*.cal"))  # nothing signed


def test_bad_arguments_are_one_line_too() -> None:
    """click's usage errors (a pid that is not a number, an unknown option) in the same one-line form."""
    for args, needle in (
        (("attach", "abc"), "'abc' is not a valid integer"),
        (("replay", "x.h7j", "--bogus"), "No such option '--bogus'"),
        (("contain", "1"), "Missing option '--reason'"),
    ):
        p = h7(*args)
        assert p.returncode == 2 and p.stderr.count("\n") == 1, p
        err = one_line_error(p)
        assert needle in err and f"h7 {args[0]} --help" in err, err


def test_a_checkout_nobody_cannot_reach_is_named() -> None:
    """The nobody tests' guard names the directory that shuts others out (a 0700 mktemp -d)."""
    from conftest import closed_to_others

    base = Path(tempfile.mkdtemp(prefix="h7-reach-"))
    try:
        base.chmod(0o755)
        inner = base / "a" / "b"
        inner.mkdir(parents=True)
        (base / "a").chmod(0o700)
        assert closed_to_others(inner) == base / "a"
        assert closed_to_others(inner / "missing.py") == base / "a"
        (base / "a").chmod(0o755)
        assert closed_to_others(inner) is None
    finally:
        shutil.rmtree(base, ignore_errors=True)
