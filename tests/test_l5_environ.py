"""L5 on /proc/<pid>/environ opens: a targeted read is an alert, a ps-style sweep is counted only.

The kernel (tests/test_sensor_gaps.py checks it live, with the real `ps`) reports each open of an
agent's environ with ``sweep``: how many other processes' environ files the same caller opened in
the run just before.  These events are shaped exactly like decode_events' output.
"""

from __future__ import annotations

import os
from typing import Any

from h7.detect.channels.base import ChannelContext
from h7.detect.channels.l5_ptrace import ENVIRON_SWEEP, PtraceChannel
from h7.detect.engine import EngineConfig


def _environ(sweep: int, comm: str) -> dict[str, Any]:
    return {
        "type": "access",
        "ts_ns": 1,
        "agent": 1,
        "pid": os.getpid(),
        "tid": os.getpid(),
        "ppid": 1,
        "uid": 0,
        "comm": comm,
        "op": "proc_environ_open",
        "hook": "fentry/environ_open",
        "target": 4242,
        "target_pid": 4242,
        "target_agent": 1,
        "mode": 0,
        "arg_pid": 4242,
        "arg_fd": -1,
        "nr": 257,
        "sweep": sweep,
    }


def test_targeted_read_alerts_and_a_sweep_does_not() -> None:
    ch = PtraceChannel(None)
    ctx = ChannelContext(agent=1, agent_id="a", info=None, config=EngineConfig())
    alerts = ch.on_events([_environ(0, "python3")], ctx)
    assert [a.code for a in alerts] == ["PROCESS_MEMORY_ACCESS"]
    ev = alerts[0].evidence
    assert ev["act"] == "proc_environ_open" and ev["sweep"] == 0 and ev["hook"] == "fentry/environ_open"
    assert ch.on_events([_environ(ENVIRON_SWEEP - 1, "cat")], ctx)  # one other first: still targeted
    assert ch.on_events([_environ(ENVIRON_SWEEP, "ps"), _environ(150, "top")], ctx) == []
    assert ch.status()["environ_sweeps_ignored"] == 2
