"""Sensor lifecycle records: start, stop, recovery after kill -9, and gap records on a full disk.

Real processes (a writer SIGKILLed mid-run), a real tmpfs filled to ENOSPC,
and the real `h7 verify` reading the result.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TIMESCALE, bpf_unavailable
from test_cal_support import make_keys, sample_agent, sample_alert

from h7.alert import Alert
from h7.cal import CalWriter, verify_chain
from h7.cal.format import DETECTIONS_UNCERTIFIED, SENSOR_RECOVERED, SENSOR_STARTED, SENSOR_STOPPED
from h7.cal.lifecycle import Certifier, SensorRun
from h7.cli import main

REPO = Path(__file__).resolve().parent.parent


def _actions(cal: Path, pub: Path) -> list[str]:
    r = verify_chain(cal, pub)
    assert r.ok, r.lines()
    return [x.action for x in sorted(r.lifecycle, key=lambda x: x.seq)]


def _verify_out(cal: Path, pub: Path) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["verify", str(cal), "--pubkey", str(pub)])
    return res.exit_code, res.output


def test_clean_start_and_stop_are_signed(tmp_path: Path) -> None:
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "cal"
    with CalWriter(cal, priv) as w:
        run = SensorRun(w)
        run.start({"agents": ["a:1:2"]})
        assert run.run_path.exists()
        w.emit(sample_alert(), sample_agent(), {})
        run.stop("sensor stopped (duration)", {"alerts": 1})
        assert not run.run_path.exists()
    assert _actions(cal, pub) == [SENSOR_STARTED, SENSOR_STOPPED]
    code, out = _verify_out(cal, pub)
    assert code == 0 and "1 started, 1 stopped cleanly, 0 ended without a stop record" in out


_CRASHER = textwrap.dedent(
    """
    import os, signal, sys, time
    from h7.cal import CalWriter
    from h7.cal.lifecycle import SensorRun
    w = CalWriter(sys.argv[1], sys.argv[2])
    run = SensorRun(w)
    run.start({})
    time.sleep(float(sys.argv[3]))
    run.heartbeat()
    print("started", flush=True)
    time.sleep(60)
    """
)


@contextlib.contextmanager
def _sensor_run(cal: Path, priv: Path, heartbeat_after_s: float) -> Iterator[subprocess.Popen[str]]:
    """A sensor run started in a child process (_CRASHER), killed on leaving if still alive.

    Why a child: a run's liveness is judged by pid, so the run to recover (or not) must be
    another process than the test's own.
    """
    p = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, str(cal), str(priv), str(heartbeat_after_s)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "started"
        yield p
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_kill9_is_recorded_by_the_next_start(tmp_path: Path) -> None:
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "cal"
    with _sensor_run(cal, priv, heartbeat_after_s=1.1) as p:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        killed_at = time.time_ns()
    # While the dead run has not been recovered, verify says a run never stopped.
    code, out = _verify_out(cal, pub)
    assert code == 0 and f"sensor pid {p.pid} started and has not signed a stop" in out
    time.sleep(0.3)
    with CalWriter(cal, priv) as w:
        run = SensorRun(w)
        run.start({})
        assert len(run.recovered) == 1
        rec = run.recovered[0]
        assert rec["previous_sensor"]["pid"] == p.pid and rec["same_boot"]
        # the heartbeat bounds the downtime: from the last touch to the recovery, not from the start
        assert 0.3e9 <= rec["down_ns_at_most"] <= (time.time_ns() - killed_at) + 0.5e9
        run.stop("sensor stopped (stopped)")
    assert _actions(cal, pub) == [SENSOR_STARTED, SENSOR_RECOVERED, SENSOR_STARTED, SENSOR_STOPPED]
    code, out = _verify_out(cal, pub)
    assert code == 0
    assert f"sensor run pid {p.pid} ended without a stop record" in out
    assert "2 started, 1 stopped cleanly, 1 ended without a stop record" in out
    assert "has not signed a stop" not in out


def test_a_running_sensor_is_not_recovered_by_a_second_one(tmp_path: Path) -> None:
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "cal"
    with _sensor_run(cal, priv, heartbeat_after_s=0), CalWriter(cal, priv) as w:
        run = SensorRun(w)
        run.start({})
        assert run.recovered == []
        run.stop("sensor stopped (stopped)")
    assert SENSOR_RECOVERED not in _actions(cal, pub)


def test_a_fifo_named_like_a_run_file_does_not_hang_the_start(tmp_path: Path) -> None:
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "cal"
    cal.mkdir(mode=0o750)
    os.mkfifo(cal / ".run.12345")
    with CalWriter(cal, priv) as w:
        run = SensorRun(w)
        run.start({})
        run.stop("sensor stopped (stopped)")
    assert _actions(cal, pub) == [SENSOR_STARTED, SENSOR_STOPPED]


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "256k") -> Iterator[Path]:
    """A real tmpfs of ``size``, unmounted (lazily if busy) whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0750", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(d: Path) -> Path:
    """Fill the filesystem of ``d`` to ENOSPC with one file; returns it (delete it to free space)."""
    ballast = d / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        chunk = b"\0" * 4096
        for _ in range(1 << 20):  # bounded: 4 GiB at most, far beyond any test tmpfs
            try:
                os.write(fd, chunk)
            except OSError:
                break
        for _ in range(4096):  # and the last partial block
            try:
                os.write(fd, b"\0")
            except OSError:
                break
    finally:
        os.close(fd)
    with pytest.raises(OSError):
        pfd = os.open(d / "probe", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.write(pfd, b"\0" * 8192)
        finally:
            os.close(pfd)
            (d / "probe").unlink()
    return ballast


def test_full_cal_disk_holds_then_certifies_and_signs_a_gap(tmp_path: Path) -> None:
    priv, pub = make_keys(tmp_path)
    with small_tmpfs(tmp_path / "mnt") as mnt:
        cal = mnt / "cal"
        alarms: list[str] = []
        delivered: list[Path] = []
        with CalWriter(cal, priv) as w:
            run = SensorRun(w)
            run.start({})
            cert = Certifier(w, run, alarms.append, max_held=5)
            ballast = fill(mnt)
            n = 12
            for i in range(n):
                a = sample_alert(i)

                def write(a: Alert = a) -> tuple[Path, bytes]:  # bound now: a retry writes this alert
                    return w.emit(a, sample_agent(), {})

                ok = cert.submit(write, lambda p, d: delivered.append(p), a.summary())
                assert not ok
            assert len(cert.held) == 5 and cert.lost == n - 5 and not delivered
            assert any("cannot write certificates" in m and "disk full" in m for m in alarms)
            assert cert.retry() == 0  # still full: nothing written, nothing lost
            ballast.unlink()
            assert cert.retry() == 6  # five held certificates, then one gap record
            assert len(delivered) == 5 and cert.pending == 0
            run.stop("sensor stopped (stopped)")
        r = verify_chain(cal, pub)
        assert r.ok, r.lines()
        assert [x.action for x in r.lifecycle] == [SENSOR_STARTED, DETECTIONS_UNCERTIFIED, SENSOR_STOPPED]
        gap = next(x for x in r.lifecycle if x.action == DETECTIONS_UNCERTIFIED)
        assert gap.count == n - 5
        assert r.count == 2 + 5 + 1
        code, out = _verify_out(cal, pub)
        assert code == 0 and f"{n - 5} detection(s) have no certificate" in out


def test_live_sensor_kill9_then_restart_shows_in_verify(tmp_path: Path) -> None:
    """The real `h7 attach` (real BPF) SIGKILLed mid-run: the restart signs the recovery."""
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "cal"
    agent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])

    def attach(*extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "h7",
                "attach",
                str(agent.pid),
                "--baseline",
                "60s",
                "--key",
                str(priv),
                "--cal-dir",
                str(cal),
                "--sink",
                str(tmp_path / "none.sock"),
                "--spool-dir",
                str(tmp_path / "spool"),
                "--status-file",
                str(tmp_path / "status.json"),
                *extra,
            ],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = attach()
    second = None
    try:
        deadline = time.monotonic() + 60 * TIMESCALE
        while not (cal / f".run.{first.pid}").exists() and time.monotonic() < deadline:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            time.sleep(0.1)
        assert (cal / f".run.{first.pid}").exists()
        time.sleep(1.5)  # a heartbeat or two
        first.kill()
        first.wait(10)
        second = attach("--duration", "2s")
        _, err = second.communicate(timeout=90 * TIMESCALE)
        assert "signed SENSOR_RECOVERED" in err, err
    finally:
        for p in (first, second, agent):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    code, out = _verify_out(cal, pub)
    assert code == 0, out
    assert f"sensor run pid {first.pid} ended without a stop record" in out
    assert "2 started, 1 stopped cleanly, 1 ended without a stop record" in out
