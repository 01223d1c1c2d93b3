"""`h7 attach --journal`: a live run keeps a journal that `h7 replay` turns back into the same verdicts.

Why it matters: `make eval` measures the detectors on live runs of real agents
(eval/harness.py records each run's journal with this option).  A detector
change is then shown on those very runs by replay, so the journal must hold
everything the engine judged -- syscalls included -- and a replay of it must
re-raise what the live run certified.  Real BPF, a real agent process, the real
CLI in a child process, real certificates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import SHELL_ON_GO_AGENT, TIMESCALE, bpf_unavailable, doctor_json


def _attach(d: Path, pid: int, journal: Path) -> list[str]:
    return [
        sys.executable, "-m", "h7", "attach", str(pid), "--baseline", "3s", "--journal", str(journal),
        "--key", str(d / "keys" / "h7.key"), "--cal-dir", str(d / "cal"), "--sink", str(d / "none.sock"),
        "--spool-dir", str(d / "spool"), "--status-file", str(d / "status.json"),
    ]  # fmt: skip


def _wait(pred: Callable[[], object], timeout: float) -> bool:
    end = time.monotonic() + timeout * TIMESCALE
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return bool(pred())


def _live_run(
    d: Path, agent_code: str, journal: Path, code: str, cwd: Path | None = None
) -> list[dict[str, Any]]:
    """`h7 attach --journal` on a real agent: baseline, release the agent's act, wait for ``code``.

    Returns the run's alert certificates (signatures verified) once the sensor exited
    cleanly; the batch holding the act is closed before the sensor is stopped, so the
    journal holds everything the live run judged.
    """
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    from h7.cal import keygen, load_public_key, verify_file

    keygen(d / "keys")
    pub = load_public_key(d / "keys" / "h7.pub")
    agent = subprocess.Popen([sys.executable, "-c", agent_code], stdin=subprocess.PIPE, text=True, cwd=cwd)
    sensor = subprocess.Popen(
        _attach(d, agent.pid, journal), stderr=subprocess.PIPE, text=True, start_new_session=True
    )

    def alerts() -> list[dict[str, Any]]:
        bodies = [verify_file(p, pub).body for p in sorted((d / "cal").glob("*.cal"))]
        return [b for b in bodies if b["action"] == "ALERT_EMITTED"]

    def monitoring() -> bool:
        status = d / "status.json"
        if not status.exists():
            return False
        return bool(json.loads(status.read_text() or "{}").get("engine", {}).get("phase") == "monitoring")

    try:
        assert agent.stdin is not None and sensor.stderr is not None
        assert _wait(monitoring, 60), "baseline never completed"
        agent.stdin.write("go\n")
        agent.stdin.flush()
        assert _wait(lambda: code in {b["code"] for b in alerts()}, 30), alerts()
        time.sleep(1.5)  # the batch holding the act closes
    finally:
        sensor.terminate()
        rest = sensor.communicate(timeout=30 * TIMESCALE)[1]
        agent.kill()
        agent.wait()
    assert sensor.returncode == 0, rest[-2000:]
    return alerts()


def _replay(journal: Path) -> list[dict[str, Any]]:
    """`h7 replay --json` of a journal with the live run's baseline: its verdicts."""
    r = subprocess.run(
        [sys.executable, "-m", "h7", "replay", str(journal), "--baseline", "3s", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]


def _verdicts(xs: list[dict[str, Any]], add: int) -> list[tuple[Any, ...]]:
    """What a certificate and a replayed verdict must agree on (``add``: wall minus kernel clock)."""
    return [(x["channel"], x["code"], int(x["ts_ns"]) + add, x.get("alert_key", x.get("key"))) for x in xs]


def test_a_live_runs_journal_replays_to_its_certificates(tmp_path: Path) -> None:
    from h7.journal import JournalReader

    journal = tmp_path / "run.h7j"
    live = _live_run(tmp_path, SHELL_ON_GO_AGENT, journal, "LLM_AGENT_HIJACK")

    # The journal: the agent named at the start, every batch with its syscalls and the exec.
    with JournalReader(journal) as r:
        hdr = r.header
        batches = list(r)
        assert r.truncated is None
    assert hdr.meta["recorded_by"] == "h7 attach --journal"
    assert [a.agent_id for a in hdr.agents] == [live[0]["agent_id"]]
    assert len(batches) >= 4
    assert sum(len(b.syscalls) for b in batches) > 100  # the agent's open/read loop, not stripped
    execs = [e for b in batches for e in b.events if e.get("type") == "exec"]
    assert any(str(e.get("filename", "")).endswith("sh") for e in execs), execs[:5]

    # Replayed with the live run's settings, it raises what the live run certified; certificates
    # carry wall-clock ts_ns, a replay kernel time: the header holds the run's offset.
    off = int(hdr.meta["wall_minus_mono_ns"])
    assert _verdicts(_replay(journal), off) == _verdicts(live, 0)


def test_the_status_file_names_each_gaps_mode_as_the_doctor_does(tmp_path: Path) -> None:
    """The sensor's status carries its per-gap modes and program states: the doctor's answer, from this load.

    The red-team harness reads the run's mode there instead of a separate `h7 doctor --json`
    (a second load of every program: 5-8 minutes of a 1-vCPU TCG guest).  On this host the gaps
    run in tracepoint mode, in the vmtest guests in fentry mode: either way the two must agree.
    """
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    from h7.cal import keygen
    from h7.sensor.sensor import GAPS
    from h7.sensor.status import format_status

    keygen(tmp_path / "keys")
    busy = "import time\nfor _ in range(12000):\n    open('/etc/hostname').read(); time.sleep(0.05)"
    agent = subprocess.Popen([sys.executable, "-c", busy])  # an idle agent has no baseline
    try:
        run = [*_attach(tmp_path, agent.pid, tmp_path / "run.h7j"), "--duration", "3s"]
        r = subprocess.run(run, capture_output=True, text=True, timeout=120 * TIMESCALE)
        assert r.returncode == 0, r.stderr[-2000:]
    finally:
        agent.kill()
        agent.wait()
    st = json.loads((tmp_path / "status.json").read_text())
    doc = doctor_json()
    # the verifier's walk per program (fdinfo), as the doctor shows it (tests/test_sensor_bpf.py bounds it)
    walked = [h["verified_insns"] for h in doc["hooks"] if h["state"] == "attached"]
    assert walked and all(isinstance(n, int) and n > 0 for n in walked), doc["hooks"]
    assert doc["facts"]["verified_insns"] >= sum(walked), doc["facts"]
    assert set(st["gaps"]) == {g.name for g in GAPS}
    assert {n: (g["gap"], g["mode"], g["hooks"]) for n, g in st["gaps"].items()} == {
        n: (g["gap"], g["mode"], g["hooks"]) for n, g in doc["gaps"].items()
    }
    assert sorted((h["program"], h["section"], h["state"]) for h in st["hooks"]) == sorted(
        (h["program"], h["section"], h["state"]) for h in doc["hooks"]
    )
    attached = {h["section"] for h in st["hooks"] if h["state"] == "attached"}
    for name, g in st["gaps"].items():
        assert g["mode"] in ("fentry", "tracepoint", "syscall"), (name, g)
        assert set(g["hooks"]) <= attached | {"tp_btf/sys_enter"}, (name, g)  # sys_enter is not a gap program
    line = next(x for x in format_status({**st, "running": True}).splitlines() if x.startswith("gap modes:"))
    assert all(f"{n} {g['mode']}" in line for n, g in st["gaps"].items()), line


def test_journal_errors_are_one_line_and_load_nothing(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    from h7.cal import keygen

    keygen(tmp_path / "keys")
    agent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        bad = _attach(tmp_path, agent.pid, tmp_path / "no" / "such" / "dir" / "run.h7j")
        r = subprocess.run(bad, capture_output=True, text=True, timeout=60 * TIMESCALE)
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot write journal" in lines[0] and "run.h7j" in lines[0], r.stderr
        assert "attached" not in r.stderr
        both = [*_attach(tmp_path, agent.pid, tmp_path / "x.h7j"), "--events"]
        r = subprocess.run(both, capture_output=True, text=True, timeout=60 * TIMESCALE)
        assert r.returncode != 0 and "--journal" in r.stderr and not (tmp_path / "x.h7j").exists()
    finally:
        agent.kill()
        agent.wait()


@pytest.mark.parametrize("fail_at", [0, 2])
def test_a_failing_journal_never_stops_detection(tmp_path: Path, fail_at: int) -> None:
    """A write error (full disk) ends the journal with one warning; the run's batches still go on."""
    from h7.batch import AgentInfo, Batch
    from h7.journal import JournalReader, RunJournal

    class Flaky:
        def __init__(self, path: Path) -> None:
            self.f = open(path, "wb")  # noqa: SIM115
            self.n = 0

        def write(self, b: bytes) -> int:
            self.n += 1
            if self.n > fail_at:
                raise OSError(28, "No space left on device")
            return self.f.write(b)

        def flush(self) -> None:
            self.f.flush()

        def close(self) -> None:
            self.f.close()

    warnings: list[str] = []
    j = RunJournal(Flaky(tmp_path / "j.h7j"), "j.h7j", warnings.append)  # type: ignore[arg-type]
    info = AgentInfo(1, "python3:10:20", 10, "/usr/bin/python3", ["python3"], 20)
    j.start([info], 1_000_000_000, {"recorded_by": "test"})
    for i in range(5):
        j.write(Batch(t0_ns=i, t1_ns=i + 1))
    j.close()
    assert len(warnings) == 1 and "No space left" in warnings[0], warnings
    if fail_at:
        with JournalReader(tmp_path / "j.h7j") as r:
            assert len(list(r)) == fail_at - 1  # the header, then whole batches up to the failure


CWD_AGENT = (
    "import os,subprocess,sys,threading,time\n"
    "go = threading.Event()\n"
    "threading.Thread(target=lambda: (sys.stdin.readline(), go.set()), daemon=True).start()\n"
    "work = os.getcwd()\n"
    "for i in range(100000):\n"
    "    open('/etc/hostname').read(); time.sleep(0.05)\n"
    "    if go.is_set(): break\n"
    "with open(os.path.join(work, 'stage2.py'), 'w') as f:\n"
    '    f.write(\'import sys\\nopen(sys.argv[1], "w").write("collected " * 64)\\n\')\n'
    "subprocess.run([sys.executable, 'stage2.py', 'loot.dat'], check=True)\n"
    "open(os.path.join(work, 'loot.dat')).read()\n"
    "sys.stdin.readline()\n"
)


def test_a_replay_resolves_relative_paths_against_the_journalled_cwd(tmp_path: Path) -> None:
    """The agent was started in its work directory before the sensor attached; after the baseline
    it writes stage2.py there, runs it (the child inherits that cwd: no chdir to report) and the
    script writes ``loot.dat`` RELATIVE; the agent reads ``<work>/loot.dat`` back.  Live, L3 knows
    the agent's cwd from the attach and closes the loop (CAUSAL_CYCLE_DETECTED); the journal keeps
    that cwd with the agent (version 3), so the replay certifies exactly what the live run did.
    Before it, a replay kept the cwd unknown and lost the cycle (eval s7: 77/81 live certificates
    reproduced, the 4 missing were these)."""
    from h7.journal import JournalReader

    work = tmp_path / "work"
    work.mkdir()
    journal = tmp_path / "run.h7j"
    live = _live_run(tmp_path, CWD_AGENT, journal, "CAUSAL_CYCLE_DETECTED", cwd=work)
    with JournalReader(journal) as r:
        assert r.header.version >= 3 and [a.cwd for a in r.header.agents] == [str(work)]
        off = int(r.header.meta["wall_minus_mono_ns"])
    assert _verdicts(_replay(journal), off) == _verdicts(live, 0)
