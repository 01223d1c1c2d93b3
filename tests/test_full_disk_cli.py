"""A full disk under every file the CLI writes besides certificates: one line, a non-zero exit, nothing lost.

Real tmpfs mounts filled to ENOSPC (test_cal_lifecycle.fill), the real CLI
in a subprocess.  Certificates and the spool under a live sensor have their
own tests (test_cal_lifecycle, test_faults_live): a full disk there never
ends monitoring.  Here: a saved baseline (replay and attach), a recorded
journal, and a spool directory that cannot even be locked at start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TIMESCALE, bpf_unavailable
from test_cal_lifecycle import fill, small_tmpfs

from h7.cal import keygen

REPO = Path(__file__).resolve().parent.parent
JOURNAL = REPO / "tests" / "journals" / "real" / "benign.h7j"
BUSY_AGENT = "import time\nfor _ in range(2000):\n    open('/etc/hostname').read(); time.sleep(0.01)\n"


@pytest.fixture
def full(tmp_path: Path) -> Iterator[Path]:
    """A mounted tmpfs with no space left."""
    with small_tmpfs(tmp_path / "full") as where:
        fill(where)
        yield where


def h7(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "h7", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout * TIMESCALE,
    )


def last_error(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 6, p  # StorageError
    assert "Traceback" not in p.stderr, p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("h7: error: ") and last.endswith("(disk full)"), p.stderr
    return last


def test_replay_save_baseline_on_a_full_disk(full: Path) -> None:
    p = h7("replay", str(JOURNAL), "--baseline", "2s", "--save-baseline", str(full / "b.bin"))
    assert f"cannot write baseline {full / 'b.bin'}" in last_error(p)
    assert "baseline not saved, monitoring goes on" in p.stderr  # the replay went to its end
    assert sorted(x.name for x in full.iterdir()) == ["ballast"]  # no temp file left behind


def test_attach_with_its_spool_on_a_full_disk_is_refused_before_any_bpf(tmp_path: Path, full: Path) -> None:
    priv, _ = keygen(tmp_path / "keys")
    p = h7(
        "attach", str(os.getpid()), "--key", str(priv), "--cal-dir", str(tmp_path / "cal"),
        "--sink", str(tmp_path / "s.sock"), "--spool-dir", str(full / "spool"),
        "--status-file", str(tmp_path / "status.json"),
    )  # fmt: skip
    assert "cannot write spool lock" in last_error(p)
    assert p.stderr.count("\n") == 1, p.stderr
    assert not list((tmp_path / "cal").glob("*.cal"))  # refused before the sensor's start record


def test_record_onto_a_full_disk(tmp_path: Path, full: Path) -> None:
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    agent = subprocess.Popen([sys.executable, "-c", BUSY_AGENT])
    try:
        p = h7("record", str(agent.pid), "--duration", "3s", "-o", str(full / "j.h7j"))
    finally:
        agent.kill()
        agent.wait()
    assert f"cannot write journal {full / 'j.h7j'}" in last_error(p)
    assert p.stderr.count("\n") == 1, p.stderr


def test_attach_save_baseline_on_a_full_disk_keeps_monitoring(tmp_path: Path, full: Path) -> None:
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    priv, _ = keygen(tmp_path / "keys")
    agent = subprocess.Popen([sys.executable, "-c", BUSY_AGENT])
    try:
        p = h7(
            "attach", str(agent.pid), "--baseline", "2s", "--duration", "5s", "--save-baseline",
            str(full / "b.bin"), "--key", str(priv), "--cal-dir", str(tmp_path / "cal"),
            "--sink", str(tmp_path / "s.sock"), "--spool-dir", str(tmp_path / "spool"),
            "--status-file", str(tmp_path / "status.json"),
        )  # fmt: skip
    finally:
        agent.kill()
        agent.wait()
    assert f"cannot write baseline {full / 'b.bin'}" in last_error(p)
    lines = p.stderr.splitlines()
    warned = next(i for i, x in enumerate(lines) if "baseline not saved, monitoring goes on" in x)
    assert any(x.startswith("h7: detached (duration)") for x in lines[warned:]), p.stderr  # ran to its end
    assert sorted(x.name for x in full.iterdir()) == ["ballast"]


def test_status_file_on_a_full_disk_is_said_once_and_detection_goes_on(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    priv, _ = keygen(tmp_path / "keys")
    with small_tmpfs(tmp_path / "full") as where:
        ballast = fill(where)
        agent = subprocess.Popen([sys.executable, "-c", BUSY_AGENT])
        sensor = subprocess.Popen(
            [sys.executable, "-m", "h7", "attach", str(agent.pid), "--baseline", "3s", "--duration", "9s",
             "--key", str(priv), "--cal-dir", str(tmp_path / "cal"), "--sink", str(tmp_path / "s.sock"),
             "--spool-dir", str(tmp_path / "spool"), "--status-file", str(where / "status.json")],
            cwd=REPO, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        lines: list[str] = []
        try:
            assert sensor.stderr is not None
            for _ in range(500):  # bounded: the run ends after its --duration
                line = sensor.stderr.readline()
                if not line:
                    break
                lines.append(line)
                if "status file not updated" in line:
                    ballast.unlink()  # space returns while the sensor runs
            rc = sensor.wait(timeout=60 * TIMESCALE)
        finally:
            if sensor.poll() is None:
                sensor.kill()
                sensor.wait()
            agent.kill()
            agent.wait()
        text = "".join(lines)
        assert rc == 0 and "h7: detached (duration)" in text, text
        assert text.count("status file not updated, detection goes on") == 1, text
        assert "(disk full)" in text and f"status file {where / 'status.json'} is updated again" in text, text
        assert (where / "status.json").exists()
