"""Live detection with real BPF: a benign agent, a baseline, then real attacks.

L2, L4 and L5 must each produce their certificate within 2 s of the act;
the full five-channel run (with L1 and L3) is tests/test_demo.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import SHELL_ON_GO_AGENT, TIMESCALE, bpf_unavailable, sensor_gone

if TYPE_CHECKING:
    from h7.demo.runner import Demo


def _wait_monitoring(d: Demo, timeout: float = 40) -> None:
    end = time.monotonic() + timeout * TIMESCALE
    while time.monotonic() < end:
        if d.status().get("engine", {}).get("phase") == "monitoring":
            return
        assert d.sensor.poll() is None, sensor_gone(d)
        time.sleep(0.1)
    pytest.fail("baseline never completed")


def test_l2_l4_l5_alert_within_two_seconds(demo: Demo) -> None:
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
        [sys.executable, "-m", "h7.demo.attacks.l5_ptrace", "--pid", str(agent_pid)],
        timeout=30 * TIMESCALE,
        check=True,
    )
    ld = demo.wait_alert("L5", t)
    assert ld is not None and ld.code == "PTRACE_ATTACH_DETECTED" and ld.sig_ok
    assert ld.seen_at - t <= 2.0 * TIMESCALE
    from h7.cal import load_public_key, verify_file

    l5 = verify_file(ld.path, load_public_key(demo.pub)).body["evidence"]
    assert l5["attacker_monitored"] is not True, l5  # the attacker runs outside the agent's tree

    # L2: the agent is made to spawn a shell (and LOTL tools)
    time.sleep(1.0)
    demo.phase = "L2"
    t = time.monotonic()
    demo.inject("L2")
    ld = demo.wait_alert("L2", t)
    assert ld is not None and ld.code in ("LLM_AGENT_HIJACK", "LIVING_OFF_THE_LAND")
    assert ld.seen_at - t <= 2.0 * TIMESCALE

    # L4: the agent connects to an unlisted loopback address
    time.sleep(1.0)
    demo.phase = "L4"
    t = time.monotonic()
    demo.inject("L4", {"host": "127.0.0.2", "count": 50})
    ld = demo.wait_alert("L4", t)
    assert ld is not None and ld.code == "UNKNOWN_DESTINATION"
    assert ld.seen_at - t <= 2.0 * TIMESCALE

    from h7.cal import load_public_key, verify_file

    body = verify_file(ld.path, load_public_key(demo.pub)).body
    assert "127.0.0.2" in str(body["evidence"])
    assert body["agent_id"].split(":")[1] == str(agent_pid)


def _attach_cmd(d: Path, pid: int, baseline: str, sock: Path) -> list[str]:
    return [
        sys.executable, "-m", "h7", "attach", str(pid), "--baseline", baseline,
        "--key", str(d / "keys" / "h7.key"), "--cal-dir", str(d / "cal"), "--sink", str(sock),
        "--spool-dir", str(d / "spool"), "--status-file", str(d / "status.json"),
    ]  # fmt: skip


def _wait_line(stream: Any, needle: str, timeout: float) -> str:
    """Read a child's stderr until a line contains ``needle`` (bounded by lines and time)."""
    deadline = time.monotonic() + timeout
    seen = []
    for _ in range(1000):
        if time.monotonic() > deadline:
            break
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return line
    pytest.fail(f"no line containing {needle!r}; got: {''.join(seen)}")


def test_agent_exiting_mid_baseline_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    from h7.cal import keygen

    keygen(tmp_path / "keys")
    # the agent exits when told, i.e. only once the sensor is attached
    agent = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.readline()"], stdin=subprocess.PIPE, text=True
    )
    sensor = subprocess.Popen(
        _attach_cmd(tmp_path, agent.pid, "60s", tmp_path / "none.sock"), stderr=subprocess.PIPE, text=True
    )
    try:
        assert sensor.stderr is not None and agent.stdin is not None
        _wait_line(sensor.stderr, "h7: attached to", 60 * TIMESCALE)
        agent.stdin.write("exit\n")
        agent.stdin.flush()
        agent.wait(timeout=30 * TIMESCALE)
        rest = sensor.stderr.read()
        assert sensor.wait(timeout=30 * TIMESCALE) == 3, rest
    finally:
        if sensor.poll() is None:
            sensor.kill()
            sensor.wait()
    last = rest.strip().splitlines()[-1]
    assert last.startswith("h7: error:") and "exited" in last and "baseline" in last


def test_unreachable_sink_loses_nothing(tmp_path: Path) -> None:
    """Alerts raised while no sinkhole listens are signed, spooled, and delivered once it starts."""
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    from h7.cal import keygen, load_public_key, verify_file

    keygen(tmp_path / "keys")
    sock = tmp_path / "alerts.sock"
    agent = subprocess.Popen([sys.executable, "-c", SHELL_ON_GO_AGENT], stdin=subprocess.PIPE, text=True)
    sensor = subprocess.Popen(
        _attach_cmd(tmp_path, agent.pid, "2s", sock),
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    sinkhole = None
    try:
        assert sensor.stderr is not None and agent.stdin is not None
        _wait_line(sensor.stderr, "baseline complete", 60 * TIMESCALE)
        agent.stdin.write("go\n")
        agent.stdin.flush()
        deadline = time.monotonic() + 30 * TIMESCALE
        pub = load_public_key(tmp_path / "keys" / "h7.pub")

        def alert_cals() -> list[Path]:
            cals = sorted((tmp_path / "cal").glob("*.cal"))  # the sensor's start record is one too
            return [c for c in cals if verify_file(c, pub).action == "ALERT_EMITTED"]

        while time.monotonic() < deadline and not alert_cals():
            time.sleep(0.1)
        assert alert_cals(), "no certificate while the sink was down"
        time.sleep(0.5)
        spooled = [p for p in (tmp_path / "spool").iterdir() if not p.name.startswith(".")]
        assert spooled, "alert not spooled while the sinkhole is down"
        out = tmp_path / "delivered.jsonl"
        cfg = tmp_path / "sink.toml"
        cfg.write_text(
            f'[sinkhole]\nsocket = "{sock}"\npubkey = "{tmp_path / "keys" / "h7.pub"}"\n'
            f'[[output]]\ntype = "jsonl"\npath = "{out}"\n'
        )
        sinkhole = subprocess.Popen([sys.executable, "-m", "h7", "sinkhole", "--config", str(cfg)])
        deadline = time.monotonic() + 30 * TIMESCALE
        while time.monotonic() < deadline and not (out.exists() and out.read_text().strip()):
            time.sleep(0.1)
        deadline = time.monotonic() + 30 * TIMESCALE
        codes: list[str] = []
        while time.monotonic() < deadline and "LLM_AGENT_HIJACK" not in codes:
            text = out.read_text()
            # complete lines only: the sinkhole may be mid-write while we poll
            codes = [json.loads(x)["code"] for x in text[: text.rfind("\n") + 1].splitlines() if x.strip()]
            time.sleep(0.1)
        # the shell spawn is delivered (a 2 s baseline may add others, e.g. L1 drift)
        assert "LLM_AGENT_HIJACK" in codes, codes
    finally:
        agent.kill()
        agent.wait()
        sensor.terminate()
        sensor.wait(timeout=20 * TIMESCALE)
        if sinkhole is not None:
            sinkhole.terminate()
            sinkhole.wait(timeout=20 * TIMESCALE)


def test_config_agent_tables_watch_for_new_agents(tmp_path: Path) -> None:
    """`h7 attach --config` with an [[agent]] pid_file table and no agent yet: it waits,
    attaches when the agent appears, baselines it, then alerts on its shell spawn."""
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    from h7.cal import keygen, load_public_key, verify_file

    keygen(tmp_path / "keys")
    pid_file = tmp_path / "agent.pid"
    cfg = tmp_path / "h7.toml"
    cfg.write_text(f'[[agent]]\nname = "watched-agent"\npid_file = "{pid_file}"\n')
    cmd = [a for a in _attach_cmd(tmp_path, 0, "2s", tmp_path / "none.sock") if a != "0"]
    sensor = subprocess.Popen([*cmd, "--config", str(cfg)], stderr=subprocess.PIPE, text=True)
    agent = None
    try:
        assert sensor.stderr is not None
        line = sensor.stderr.readline()
        assert "waiting for an agent matching pid_file=" in line, line
        code = (
            "import os,sys,time\n"
            "open(sys.argv[1],'w').write(str(os.getpid()))\n"
            "for i in range(100):\n"
            "    open('/etc/hostname').read(); time.sleep(0.05)\n"
            "    if i == 80: os.system('true')\n"
        )
        agent = subprocess.Popen([sys.executable, "-c", code, str(pid_file)])
        # the shell spawn must be certified; a 2 s baseline may also yield other alerts (e.g. L1 drift)
        pub = load_public_key(tmp_path / "keys" / "h7.pub")
        deadline = time.monotonic() + 30 * TIMESCALE
        hijack: dict[str, Any] | None = None
        while time.monotonic() < deadline and hijack is None:
            for cal in sorted((tmp_path / "cal").glob("*.cal")):
                body = verify_file(cal, pub).body
                if body.get("code") == "LLM_AGENT_HIJACK":
                    hijack = body
            time.sleep(0.1)
        assert hijack is not None, "the watched agent's shell spawn produced no certificate"
        assert hijack["agent_id"] == f"watched-agent:{agent.pid}:" + hijack["agent_id"].rsplit(":", 1)[1]
    finally:
        if agent is not None:
            agent.kill()
            agent.wait()
        sensor.terminate()
        sensor.wait(timeout=20 * TIMESCALE)


def test_l5_tampering_without_ptrace_is_certified(demo: Demo) -> None:
    """/proc/<pid>/mem and pidfd_getfd on a live agent: signed L5 certificates naming the hook (issue 13)."""
    import ctypes

    from h7.cal import load_public_key, verify_file

    agent_pid, _ = demo.setup()
    _wait_monitoring(demo)
    demo.phase = "L5"
    t = time.monotonic()
    os.close(os.open(f"/proc/{agent_pid}/mem", os.O_RDONLY))
    ld = demo.wait_alert("L5", t)
    assert ld is not None and ld.code == "PROCESS_MEMORY_ACCESS" and ld.sig_ok
    assert ld.seen_at - t <= 2.0 * TIMESCALE
    ev = verify_file(ld.path, load_public_key(demo.pub)).body["evidence"]
    assert ev["act"] == "proc_mem_open" and ev["target"]["pid"] == agent_pid
    assert ev["hook"] in ("tp_btf/sys_enter", "fentry/security_ptrace_access_check")

    time.sleep(1.0)
    t = time.monotonic()
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(agent_pid)
    try:
        fd = libc.syscall(438, pidfd, 0, 0)  # pidfd_getfd: the agent's stdin
        assert fd >= 0, os.strerror(ctypes.get_errno())
        os.close(fd)
    finally:
        os.close(pidfd)
    ld = demo.wait_alert("L5", t)
    assert ld is not None and ld.code == "FD_THEFT_DETECTED" and ld.sig_ok
    ev = verify_file(ld.path, load_public_key(demo.pub)).body["evidence"]
    assert ev["act"] == "pidfd_getfd" and ev["target_fd"] == 0 and ev["target"]["pid"] == agent_pid
