"""h7.config: one strict loader for every table of /etc/h7/h7.toml, whichever command reads it.

Every bad file must give one line naming the file and the key, and exit 2,
from every command that reads the config (sinkhole, status, attach, replay),
never a traceback and never a hang.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from h7 import config, registry
from h7.config import EngineConfig, load, parse_text
from h7.detect.channels.l2_exec import L2Settings
from h7.detect.channels.l3_causal import L3Settings
from h7.detect.channels.l4_egress import L4Settings
from h7.errors import UsageError

REPO = Path(__file__).resolve().parent.parent
JOURNAL = REPO / "tests" / "journals" / "benign.h7j"

BAD = [
    ("[sensor]\nkeyy = '/k'\n", "[sensor]: unknown key 'keyy'"),
    ("[sensor]\nkey = 3\n", "[sensor]: 'key' must be a path"),
    ("[detect]\nthresholds = 'x'\n", "[detect]: 'thresholds' must be a table of numbers"),
    ("[detect]\nthresholds = { L9 = 1.0 }\n", "'L9' is neither a channel nor an alert code"),
    ("[detect]\nthresholds = { L1 = 'high' }\n", "'thresholds' must be a table of numbers"),
    ("[detect]\nbaseline = 'soon'\n", "[detect]: 'baseline': not a duration"),
    ("[detect]\nbaseline = '30s'\nbaseline_ns = 5\n", "given twice"),
    ("[detect]\ntrace_len = 1.5\n", "'trace_len' must be an integer"),
    ("[detect]\nread_proc = 1\n", "'read_proc' must be true or false"),
    ("[detect]\nchannels = ['L1', 'L9']\n", "unknown detection channel(s): L9"),
    ("[detect]\nl4_alow = ['x']\n", "[detect]: unknown key 'l4_alow'"),
    ("[detect.l2]\nallow = 'git'\n", "[detect.l2]: 'allow' must be a list of strings"),
    ("[detect.l2]\nalow = ['git']\n", "[detect.l2]: unknown key 'alow'"),
    ("[detect.l3]\nknown_quantile = 1.5\n", "[detect.l3]: known_quantile must be in [0, 1)"),
    (
        "[detect.l4]\nallow_baseline_destinations = 'no'\n",
        "'allow_baseline_destinations' must be true or false",
    ),
    ("[detect]\nl2 = 3\n", "'l2' must be a table"),
    ("[detect]\nl2_allow = ['a']\n[detect.l2]\nallow = ['b']\n", "given twice"),
    ("[[agent]]\nname = 'x'\n[agent.bad]\n", "unknown kind 'bad'"),
    ("[[agent]]\nexe = 'relative'\n", "exe must be an absolute path"),
    ("agent = 3\n", "agents are [[agent]] tables"),
    ("[sensr]\n", "unknown table(s) 'sensr'"),
    ("[severity]\nNOT_A_CODE = 'high'\n", "'NOT_A_CODE' is not an alert code"),
    ("[spool]\nmax_bytes = 0\n", "[spool]: 'max_bytes' must be > 0"),
    ("[sinkhole]\ndedup_window = true\n", "'dedup_window' must be an integer"),
    ("[sensor]\nmax_held_alerts = 0\n", "[sensor]: 'max_held_alerts' must be >= 1"),
    ("[detect\n", "invalid TOML"),
    ("x = " + "[" * 5000 + "]" * 5000 + "\n", "invalid TOML"),
]


@pytest.mark.parametrize(("text", "msg"), BAD)
def test_bad_config_is_one_usage_error(tmp_path: Path, text: str, msg: str) -> None:
    p = tmp_path / "h7.toml"
    p.write_text(text)
    with pytest.raises(UsageError) as ei:
        load(p)
    assert str(ei.value).startswith(f"{p}: ") and msg in str(ei.value), str(ei.value)
    assert "\n" not in str(ei.value)


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "h7", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("[sensor]\nkeyy = '/k'\n", "[sensor]: unknown key 'keyy'"),
        ("[detect]\nthresholds = 'x'\n", "'thresholds' must be a table of numbers"),
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", "invalid TOML"),
    ],
)
def test_every_command_refuses_a_bad_config_in_one_line(tmp_path: Path, text: str, msg: str) -> None:
    p = tmp_path / "h7.toml"
    p.write_text(text)
    for args in (
        ["sinkhole", "--config", str(p), "--check"],
        ["status", "--config", str(p), "--status-file", str(tmp_path / "s.json")],
        ["replay", str(JOURNAL), "--config", str(p)],
        ["attach", "--config", str(p), str(os.getpid()), "--key", str(tmp_path / "none.key")],
    ):
        r = _cli(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"h7: error: {p}: "), (args, r.stderr)
        assert msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_not_utf8_and_too_large_and_not_a_file(tmp_path: Path) -> None:
    p = tmp_path / "latin1.toml"
    p.write_bytes(b"[sinkhole]\nhost = '\xe9t\xe9'\n")
    with pytest.raises(UsageError, match="not valid UTF-8"):
        load(p)
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (config.MAX_CONFIG_BYTES + 1))
    with pytest.raises(UsageError, match="over the 1048576-byte limit"):
        load(big)
    with pytest.raises(UsageError, match="not a regular file"):
        load(tmp_path)
    with pytest.raises(UsageError, match="config file not found"):
        load(tmp_path / "absent.toml")


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "h7.toml"
    os.mkfifo(fifo)
    result: list[BaseException | None] = []

    def go() -> None:
        try:
            load(fifo)
            result.append(None)
        except BaseException as e:
            result.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the reader before failing, so no thread is left behind
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        t.join(5)
        pytest.fail("loading a FIFO blocked")
    assert isinstance(result[0], UsageError) and "not a regular file" in str(result[0])
    r = _cli("sinkhole", "--config", str(fifo), "--check", timeout=30)
    assert r.returncode == 2 and "not a regular file" in r.stderr


def test_good_config_gives_typed_sections(tmp_path: Path) -> None:
    cfg = parse_text(
        f"""
[sensor]
key = "{tmp_path}/k"
[detect]
baseline = "45s"
batch_interval = "500ms"
rate_limit_ns = 0
storm_window = "1s"
thresholds = {{ L1 = 0.4, NET_EGRESS_BURST = 20 }}
l4_allow = ["10.0.0.0/8"]
allow_baseline_destinations = false
[detect.l2]
allow = ["git"]
[detect.l3]
known_quantile = 0
[[agent]]
exe = "/usr/bin/node"
[spool]
max_bytes = 1000
[[output]]
type = "stdout"
"""
    )
    assert cfg.sensor.key == tmp_path / "k" and cfg.sensor.cal_dir == config.DEFAULT_CAL_DIR
    d = cfg.detect
    assert (
        d.baseline_ns == 45 * config.NS_PER_S
        and d.batch_ns == config.NS_PER_S // 2
        and d.fold_idle_ns == 0
        and d.storm_window_ns == config.NS_PER_S
    )
    assert d.threshold_override("L4", "NET_EGRESS_BURST") == 20.0
    assert d.settings(L2Settings).allow == ["git"] and d.settings(L2Settings).content_identity is True
    assert d.settings(L4Settings).allow == ["10.0.0.0/8"]
    assert d.settings(L4Settings).allow_baseline_destinations is False
    assert d.settings(L3Settings).known_quantile == 0.0
    assert d.channels == registry.names()
    assert cfg.agents == [{"exe": "/usr/bin/node"}]
    assert cfg.sink.spool_max_bytes == 1000 and cfg.sink.socket == config.DEFAULT_SOCKET
    assert [o["type"] for o in cfg.sink.outputs] == ["stdout"]


def test_defaults_are_the_dataclass_defaults() -> None:
    """An empty file and no file at all mean the same settings (written once, in the dataclasses)."""
    empty = parse_text("")
    assert empty.detect == EngineConfig()
    assert empty.sensor == config.SensorConfig()
    assert empty.sink.spool_dir == config.DEFAULT_SPOOL_DIR


def test_every_channel_table_is_validated_from_its_declaration() -> None:
    """The sub-table keys come from each channel's settings dataclass; nothing else lists them."""
    for spec in registry.specs():
        with pytest.raises(UsageError, match=rf"\[detect.{spec.table}\]: unknown key 'no_such_key'"):
            parse_text(f"[detect.{spec.table}]\nno_such_key = 1\n")


def test_only_the_config_module_reads_toml() -> None:
    imports_toml = re.compile(r"^\s*(?:import|from)\s+" + "toml" + "lib", re.M)
    hits = []
    for root in ("h7", "bench", "tests", "_build", "vmtest", "packaging"):
        for path in sorted((REPO / root).rglob("*.py")):
            if imports_toml.search(path.read_text(encoding="utf-8", errors="replace")):
                hits.append(str(path.relative_to(REPO)))
    assert hits == ["h7/config.py"], hits
