"""Shared builders for the .cal tests (imported by tests/test_cal_*.py; holds no tests)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from h7.alert import Alert
from h7.batch import AgentInfo
from h7.cal import CalWriter, keygen

AGENT_ID = "python3:4242:987654"


def sample_agent() -> AgentInfo:
    return AgentInfo(
        agent=1,
        agent_id=AGENT_ID,
        root_pid=4242,
        exe="/usr/bin/python3",
        cmdline=["python3", "agent.py", "--task", "a b"],
        start_time_ns=987654,
    )


def sample_alert(i: int = 0, **kw: Any) -> Alert:
    fields: dict[str, Any] = {  # Alert's fields, of several types
        "channel": "L4",
        "code": "UNKNOWN_DESTINATION",
        "agent_id": AGENT_ID,
        "ts_ns": 1_732_700_000_000_000_000 + i,
        "divergence": 0.9,
        "threshold": 0.5,
        "key": f"203.0.113.{i % 250}:443",
        "evidence": {"dst": f"203.0.113.{i % 250}", "port": 443, "i": i},
        "syscall_trace": [{"type": "syscall", "nr": 42, "ts_ns": 5 + i}],
    }
    fields.update(kw)
    return Alert(**fields)


def make_keys(root: Path) -> tuple[Path, Path]:
    return keygen(root / "keys")


def make_chain(root: Path, n: int) -> tuple[Path, Path, Path, list[Path]]:
    """(cal_dir, private key, public key, certificate paths) of an n-certificate chain."""
    priv, pub = make_keys(root)
    cal = root / "cal"
    with CalWriter(cal, priv, host="test-host") as w:
        paths = [w.emit(sample_alert(i), sample_agent(), {"events": 0})[0] for i in range(n)]
    return cal, priv, pub, paths


def copy_chain(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
