"""Disk faults under a live sensor (real BPF, real tmpfs mounts): monitoring never ends.

The cal directory and the spool each sit on their own small tmpfs, filled to
ENOSPC while the agent keeps making new connections (one L4 alert each):

* cal disk full: alerts are held in memory (max_held_alerts = 2 here), the rest
  counted; when space returns the held ones are certified and one signed
  DETECTIONS_UNCERTIFIED record says how many have no certificate;
* spool disk full: certified alerts wait in memory and are spooled when space
  returns;
* the sensor never stops, and its stop is signed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest
from conftest import TIMESCALE, bpf_unavailable
from test_cal_lifecycle import fill, small_tmpfs

from h7.cal import keygen, verify_chain, verify_file

REPO = Path(__file__).resolve().parent.parent

AGENT = r"""
import socket, sys, threading, time
go = []
def reader():
    for line in sys.stdin:
        go.append(line.strip())
threading.Thread(target=reader, daemon=True).start()
n = 0
for _ in range(100000):
    open('/etc/hostname').read()
    time.sleep(0.05)
    while go:
        rounds = int(go.pop(0))
        for _ in range(rounds):
            n += 1
            s = socket.socket()
            s.settimeout(0.05)
            try:
                s.connect((f"127.0.{n // 200}.{10 + n % 200}", 9))
            except OSError:
                pass
            s.close()
            time.sleep(0.3)
"""


class Lines:
    """A child's stderr, collected by a thread (bounded), searchable with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self.t = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.t.start()

    def _read(self, stream: IO[str]) -> None:
        for _ in range(200_000):
            line = stream.readline()
            if not line:
                return
            self.lines.append(line)

    def count(self, pat: str) -> int:
        return sum(1 for x in list(self.lines) if re.search(pat, x))

    def wait(self, pat: str, n: int = 1, timeout: float = 30) -> None:
        end = time.monotonic() + timeout * TIMESCALE
        while time.monotonic() < end:
            if self.count(pat) >= n:
                return
            time.sleep(0.05)
        pytest.fail(f"{n} x {pat!r} not seen; stderr:\n{''.join(self.lines[-60:])}")


def test_full_cal_and_spool_disks_never_end_monitoring(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    priv, pub = keygen(tmp_path / "keys")
    cfg = tmp_path / "h7.toml"
    cfg.write_text("[sensor]\nmax_held_alerts = 2\n")
    with small_tmpfs(tmp_path / "calfs") as calfs, small_tmpfs(tmp_path / "spoolfs") as spoolfs:
        agent = subprocess.Popen([sys.executable, "-c", AGENT], stdin=subprocess.PIPE, text=True)
        sensor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "h7",
                "attach",
                str(agent.pid),
                "--baseline",
                "3s",
                "--key",
                str(priv),
                "--cal-dir",
                str(calfs / "cal"),
                "--spool-dir",
                str(spoolfs / "spool"),
                "--sink",
                str(tmp_path / "none.sock"),
                "--status-file",
                str(tmp_path / "status.json"),
                "--config",
                str(cfg),
            ],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert sensor.stderr is not None and agent.stdin is not None
        err = Lines(sensor.stderr)

        def go(rounds: int) -> None:
            assert agent.stdin is not None
            agent.stdin.write(f"{rounds}\n")
            agent.stdin.flush()

        try:
            err.wait("baseline complete", timeout=60)
            # -- the cal disk fills: alerts wait (2 in memory), the rest are counted
            ballast = fill(calfs)
            go(8)
            err.wait(r"ALARM: cannot write certificates", timeout=30)
            err.wait(r"certificate pending", n=6, timeout=30)
            assert sensor.poll() is None, "the sensor stopped on a full cal disk"
            pending = err.count(r"certificate pending")
            ballast.unlink()
            err.wait(r"could not be certified; signed a gap record", timeout=30)
            err.wait(r"certified held alert", n=2, timeout=30)
            # -- the spool disk fills: certified alerts wait in memory, then are spooled
            spool_ballast = fill(spoolfs)
            go(3)
            err.wait(r"ALARM: cannot spool alerts", timeout=30)
            assert sensor.poll() is None, "the sensor stopped on a full spool disk"
            spool_ballast.unlink()
            err.wait(r"alerts are being spooled again", timeout=30)
        finally:
            if sensor.poll() is None:
                sensor.terminate()
            try:
                sensor.wait(timeout=30 * TIMESCALE)
            finally:
                if sensor.poll() is None:
                    sensor.kill()
                    sensor.wait()
                agent.kill()
                agent.wait()
        err.t.join(10)
        r = verify_chain(calfs / "cal", pub)
        assert r.ok, r.lines()
        actions = [x.action for x in sorted(r.lifecycle, key=lambda x: x.seq)]
        assert actions[0] == "SENSOR_STARTED" and actions[-1] == "SENSOR_STOPPED", actions
        gaps = [x for x in r.lifecycle if x.action == "DETECTIONS_UNCERTIFIED"]
        # at least the pending lines seen before space returned, minus the two held in memory
        assert len(gaps) == 1 and gaps[0].count >= pending - 2 >= 1, (gaps, pending)
        certs = sorted((calfs / "cal").glob("*.cal"))
        alerts = [c for c in certs if verify_file(c, pub).action == "ALERT_EMITTED"]
        detections = err.count(r"^h7: ALERT ")
        # every detection is certified or counted in the gap record
        assert len(alerts) + gaps[0].count == detections, (len(alerts), gaps[0].count, detections)
        spooled = list((spoolfs / "spool").glob("*.alert"))
        # every certified alert waits in the spool (no sinkhole), except those beyond the bounded
        # memory while the spool disk refused: each of those was said (its .cal is in the chain)
        dropped = err.count(r"not delivered: spool disk refuses")
        assert len(spooled) == len(alerts) - dropped, "".join(err.lines)
