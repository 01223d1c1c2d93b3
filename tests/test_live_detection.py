"""Live detection with real BPF: a benign agent, a baseline, then real attacks.

L2, L4 and L5 must each produce their certificate within 2 s of the act;
the full five-channel run (with L1 and L3) is tests/test_demo.py.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import bpf_unavailable


@pytest.fixture
def demo(tmp_path: Path):  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    from h7.demo.runner import Demo

    d = Demo(tmp_path / "demo", baseline_s=8, benign_s=0, wait_s=2.0, out=io.StringIO())
    try:
        yield d
    finally:
        d.stop()


def _wait_monitoring(d, timeout: float = 40) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if d.status().get("engine", {}).get("phase") == "monitoring":
            return
        assert d.sensor.poll() is None, (d.dir / "sensor.log").read_text()
        time.sleep(0.1)
    pytest.fail("baseline never completed")


def test_l2_l4_l5_alert_within_two_seconds(demo) -> None:  # type: ignore[no-untyped-def]
    agent_pid, _ = demo.setup()
    _wait_monitoring(demo)
    demo.phase = "benign"
    time.sleep(2.0)
    demo.poll_certs()
    assert not demo.landed, f"false alert on a benign agent: {demo.landed}"

    # L5: an unrelated process attaches to the agent
    demo.phase = "L5"
    t = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "h7.demo.attacks.l5_ptrace", "--pid", str(agent_pid)], timeout=30, check=True
    )
    ld = demo.wait_alert("L5", t)
    assert ld is not None and ld.code == "PTRACE_ATTACH_DETECTED" and ld.sig_ok
    assert ld.seen_at - t <= 2.0

    # L2: the agent is made to spawn a shell (and LOTL tools)
    time.sleep(1.0)
    demo.phase = "L2"
    t = time.monotonic()
    demo.inject("L2")
    ld = demo.wait_alert("L2", t)
    assert ld is not None and ld.code in ("LLM_AGENT_HIJACK", "LIVING_OFF_THE_LAND")
    assert ld.seen_at - t <= 2.0

    # L4: the agent connects to an unlisted loopback address
    time.sleep(1.0)
    demo.phase = "L4"
    t = time.monotonic()
    demo.inject("L4", {"host": "127.0.0.2", "count": 50})
    ld = demo.wait_alert("L4", t)
    assert ld is not None and ld.code == "UNKNOWN_DESTINATION"
    assert ld.seen_at - t <= 2.0

    from h7.cal import load_public_key, verify_file

    body = verify_file(ld.path, load_public_key(demo.pub)).body
    assert "127.0.0.2" in str(body["evidence"])
    assert body["agent_id"].split(":")[1] == str(agent_pid)
