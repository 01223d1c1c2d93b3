"""``h7 status`` and ``h7 sinkhole`` through click, plus config validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import cli_runner
from test_sink_support import REPO, TEST_PUB, SinkholeProcess, sink_env

from h7._click import H7Group
from h7.config import load_sink as load_config
from h7.config import parse_text
from h7.errors import UsageError
from h7.sensor.status import read_status, write_status
from h7.sink.commands import COMMANDS


@click.group(cls=H7Group)  # the sink's commands alone, with the CLI's error contract
def cli() -> None:
    pass


for c in COMMANDS:
    cli.add_command(c)


def run(*args: str) -> tuple[int, str, str]:
    r = cli_runner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


STATE = {
    "started_at": 0,
    "agents": [
        {"agent_id": "python3:4242:777", "pid": 4242, "state": "monitoring",
         "channels": {"L1": {"divergence": 0.12, "threshold": 0.5},
                      "L4": {"divergence": 0.91, "threshold": 0.5, "alerts": 2}}},
        {"agent_id": "node:99:1", "pid": 99, "state": "baseline", "baseline_remaining_s": 12.0,
         "channels": {}},
    ],
    "alerts_emitted": 2,
    "spool": {"spool_depth": 3, "spool_bytes": 2048, "delivered": 7, "failed": 1, "refused": 0,
              "spool_full": False},
    "ringbuf_drops": 17,
}  # fmt: skip


def test_status_of_a_running_sensor(tmp_path: Path) -> None:
    f = tmp_path / "status.json"
    write_status(f, STATE)  # written by this (live) process
    assert oct(f.stat().st_mode & 0o777) == "0o644"
    code, out, _ = run("status", "--status-file", str(f), "--socket", str(tmp_path / "none.sock"))
    assert code == 0
    assert f"sensor: running (pid {os.getpid()}" in out
    assert "agents attached: 2" in out
    assert "python3:4242:777  pid 4242  monitoring" in out
    assert "L4: monitoring" in out and "ABOVE THRESHOLD" in out
    assert "node:99:1  pid 99  baseline, 12 s of baseline left" in out
    assert "alerts emitted: 2" in out and "spool: 3 pending" in out and "ring-buffer drops: 17" in out
    assert "sinkhole: not reachable" in out
    code, out, _ = run("status", "--status-file", str(f), "--socket", str(tmp_path / "n"), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["running"] is True and doc["ringbuf_drops"] == 17 and doc["pid"] == os.getpid()


def test_status_says_clearly_when_no_sensor_runs(tmp_path: Path) -> None:
    f = tmp_path / "status.json"
    code, out, _ = run("status", "--status-file", str(f), "--socket", str(tmp_path / "n"))
    assert code == 1 and "no sensor running (no status file at" in out
    # A sensor that was SIGKILLed leaves its file behind: the writer pid is checked.
    code_ = f"from h7.sensor.status import write_status; write_status({str(f)!r}, {{'agents': []}})"
    p = subprocess.run([sys.executable, "-c", code_], env=sink_env(), cwd=REPO, check=True, timeout=30)
    assert p.returncode == 0
    doc = read_status(f)
    code, out, _ = run("status", "--status-file", str(f), "--socket", str(tmp_path / "n"))
    assert code == 1
    assert f"no sensor running: {f} was written by pid {doc['pid']}, which has exited" in out
    code, out, _ = run("status", "--status-file", str(f), "--socket", str(tmp_path / "n"), "--json")
    assert code == 1 and json.loads(out)["running"] is False


def test_status_rejects_a_recycled_pid(tmp_path: Path) -> None:
    f = tmp_path / "status.json"
    write_status(f, {})
    doc = json.loads(f.read_text())
    doc["pid_start_ticks"] += 1  # same pid, different process start: not our writer
    f.write_text(json.dumps(doc))
    assert read_status(f)["running"] is False


def test_status_reports_a_live_sinkhole(tmp_path: Path) -> None:
    cfg = tmp_path / "h7.toml"
    cfg.write_text(
        f'[sinkhole]\nsocket = "{tmp_path}/a.sock"\npubkey = "{TEST_PUB}"\n'
        f'[[output]]\ntype = "jsonl"\npath = "{tmp_path}/o.jsonl"\n'
    )
    sink = SinkholeProcess(tmp_path / "a.sock", cfg, tmp_path / "log")
    sink.start()
    try:
        code, out, _ = run("status", "--status-file", str(tmp_path / "s.json"), "--config", str(cfg))
    finally:
        sink.stop()
    assert code == 1  # no sensor, but the sinkhole answers
    assert f"sinkhole: listening on {tmp_path}/a.sock" in out and "output jsonl1 (jsonl, h7)" in out


BAD_CONFIGS = [
    (
        "[[output]]\ntype = 'jsonl'\npath = 'relative.jsonl'\n",
        "[[output]] #1 (jsonl): 'path' must be absolute",
    ),
    ("[[output]]\ntype = 'carrier-pigeon'\n", "'type' must be one of stdout, jsonl, syslog, webhook, exec"),
    ("[[output]]\ntype = 'stdout'\nformatt = 'ocsf'\n", "unknown key 'formatt'"),
    ("[[output]]\ntype = 'webhook'\nurl = 'ftp://x'\n", "'url' must be an http:// or https:// URL"),
    (
        "[[output]]\ntype = 'webhook'\nurl = 'http://127.0.0.1/'\nbody = '{\"a\": \"{{ nope }}\"}'\n",
        "unknown field {{ nope }}",
    ),
    (
        "[[output]]\ntype = 'webhook'\nurl = 'http://127.0.0.1/'\nbody = '{not json'\n",
        "'body' is not valid JSON",
    ),
    ("[[output]]\ntype = 'webhook'\nurl = 'http://127.0.0.1/${H7_TEST_UNSET_VAR}'\n", "H7_TEST_UNSET_VAR"),
    ("[[output]]\ntype = 'syslog'\ntransport = 'udp'\nport = true\n", "'port' must be an integer, not bool"),
    ("[[output]]\ntype = 'syslog'\nfacility = 'kernel'\n", "'facility' must be one of"),
    ("[[output]]\ntype = 'stdout'\nformat = 'cef'\n", "'format' must be one of h7, ocsf"),
    (
        "[severity]\nDRIFT_DETECTED = 'apocalyptic'\n[[output]]\ntype = 'stdout'\n",
        "[severity]: DRIFT_DETECTED",
    ),
    ("[sinkhole]\nsockett = '/x'\n", "[sinkhole]: unknown key 'sockett'"),
    ("[[output]]\ntype = 'exec'\ncommand = []\n", "'command' must be a non-empty list"),
    ("[[output]]\ntype = 'stdout'\n[[output]]\ntype = 'stdout'\nname = 'stdout1'\n", "duplicate output name"),
    ("[[output]\n", "invalid TOML"),
    ("[sinkhole]\n", "no [[output]] configured"),
    ("[sinkhole]\n[[outputs]]\ntype = 'stdout'\n", "unknown table(s) 'outputs'"),
]


@pytest.mark.parametrize(
    ("command", "text", "msg"),
    [("sinkhole", t, m) for t, m in BAD_CONFIGS]
    + [("status", t, m) for t, m in BAD_CONFIGS if "no [[output]]" not in m],  # status needs no outputs
)
def test_bad_config_is_one_clear_line_and_exit_2(tmp_path: Path, command: str, text: str, msg: str) -> None:
    cfg = tmp_path / "h7.toml"
    cfg.write_text(text)
    args = [command, "--config", str(cfg)] + (["--check"] if command == "sinkhole" else [])
    code, out, err = run(*args)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith(f"h7: error: {cfg}: ") and msg in err, err


def test_missing_explicit_config_and_bad_options_exit_2(tmp_path: Path) -> None:
    code, _, err = run("sinkhole", "--config", str(tmp_path / "nope.toml"))
    assert code == 2 and err == f"h7: error: {tmp_path}/nope.toml: config file not found\n"
    code, _, err = run("sinkhole", "--bogus")
    assert code == 2 and "No such option" in err and "--bogus" in err
    with pytest.raises(UsageError):
        load_config(tmp_path / "nope.toml")


def test_sinkhole_check_lists_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("H7_HOOK_TOKEN", "s3cr3t")
    cfg = tmp_path / "h7.toml"
    cfg.write_text(
        f'[sinkhole]\nsocket = "{tmp_path}/x.sock"\npubkey = "{TEST_PUB}"\n'
        f'[[output]]\ntype = "jsonl"\npath = "{tmp_path}/a.jsonl"\nformat = "ocsf"\n'
        '[[output]]\ntype = "webhook"\nname = "slack"\nurl = "http://127.0.0.1:9/services/${H7_HOOK_TOKEN}"\n'
        '[[output]]\ntype = "exec"\ncommand = "logger -t h7"\nenabled = false\n'
    )
    code, out, _ = run("sinkhole", "--config", str(cfg), "--check")
    assert code == 0
    assert f"socket: {tmp_path}/x.sock" in out
    assert (
        "output: jsonl1 (jsonl, ocsf)" in out and "output: slack (webhook http://127.0.0.1:9/..., h7)" in out
    )
    assert "s3cr3t" not in out and "exec" not in out


def test_example_config_in_docs_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.invalid/services/T/B/X")
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "r")
    cfg = load_config(REPO / "docs" / "h7.example.toml")
    assert {o["type"] for o in cfg.outputs} == {"jsonl", "syslog", "webhook"}
    # The disabled examples are valid too, once enabled.
    text = (REPO / "docs" / "h7.example.toml").read_text().replace("enabled = false", "enabled = true")
    every = parse_text(text).sink
    assert [o["type"] for o in every.outputs].count("exec") == 1
    assert [o["type"] for o in every.outputs].count("syslog") == 2


def test_config_shared_with_the_sensor_is_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / "h7.toml"
    cfg.write_text(
        '[sensor]\nkey = "/var/lib/h7/keys/h7.key"\n[detect]\nbaseline_ns = 1\n'
        f'[spool]\ndir = "{tmp_path}/spool"\nmax_bytes = 1000000\n'
        '[[output]]\ntype = "stdout"\n'
    )
    c = load_config(cfg)
    assert c.spool_dir == tmp_path / "spool" and c.spool_max_bytes == 1_000_000
    # h7 status needs no outputs at all
    cfg.write_text('[sensor]\nkey = "/k"\n')
    code, out, _ = run("status", "--config", str(cfg), "--status-file", str(tmp_path / "s"))
    assert code == 1 and "no sensor running" in out


def test_status_renders_what_h7_attach_writes(tmp_path: Path) -> None:
    # The shape h7/pipeline.py writes: engine status + agent infos + sink stats + ring counters.
    doc = {
        "started": 0, "updated": 0,
        "engine": {"phase": "monitoring", "baseline_progress": 1.0, "alerts": 4,
                   "agents": {"python3:77:5": {"exited": False, "alerts": {"L4": 4},
                                               "channels": {"L4": {"state": "monitoring", "divergence": 0.2,
                                                                   "threshold": 0.5}}}}},
        "agents": [{"agent": 1, "agent_id": "python3:77:5", "root_pid": 77, "exe": "/usr/bin/python3",
                    "cmdline": [], "start_time_ns": 5}],
        "alerts": 4, "cal_failed": 0, "sink_refused": 2,
        "sink": {"spool_depth": 1, "spool_bytes": 900, "delivered": 3, "failed": 0, "refused": 2,
                 "spool_full": True},
        "ring": {"sys_emitted": 100, "sys_dropped": 5, "events_emitted": 10, "events_dropped": 1,
                 "malformed": 0},
    }  # fmt: skip
    f = tmp_path / "status.json"
    write_status(f, doc)
    code, out, _ = run("status", "--status-file", str(f), "--socket", str(tmp_path / "n"))
    assert code == 0
    assert "python3:77:5  pid 77  monitoring" in out and "L4: monitoring" in out
    assert "alerts emitted: 4" in out and "ring-buffer drops: 6" in out
    assert "SPOOL FULL" in out and "ALARM: alerts refused by a full spool: 2" in out
