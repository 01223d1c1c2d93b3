"""L5 on /proc/<pid>/environ and maps opens: a targeted read alerts, a ps/perf-style sweep is only counted.

The kernel (tests/test_sensor_gaps.py checks it live, with the real `ps`) reports each open of an
agent's environ with ``sweep``: how many other processes' environ files the same caller opened in
the run just before.  These events are shaped exactly like decode_events' output.
"""

from __future__ import annotations

import os
from typing import Any

from h7.detect.channels.base import ChannelContext
from h7.detect.channels.l5_ptrace import ENVIRON_SWEEP, MAPS_SWEEP, PtraceChannel
from h7.detect.engine import EngineConfig


def _environ(sweep: int, comm: str, op: str = "proc_environ_open") -> dict[str, Any]:
    return {
        "type": "access",
        "ts_ns": 1,
        "agent": 1,
        "pid": os.getpid(),
        "tid": os.getpid(),
        "ppid": 1,
        "uid": 0,
        "comm": comm,
        "op": op,
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


def _ctx() -> ChannelContext:
    return ChannelContext(agent=1, agent_id="a", info=None, config=EngineConfig())


def test_maps_sweep_like_perf_is_counted_a_targeted_maps_read_alerts() -> None:
    ch, ctx = PtraceChannel(None), _ctx()
    alerts = ch.on_events([_environ(0, "python3", "proc_maps_open")], ctx)
    assert [a.code for a in alerts] == ["PROCESS_MEMORY_ACCESS"]
    assert alerts[0].evidence["act"] == "proc_maps_open" and alerts[0].evidence["sweep"] == 0
    assert alerts[0].key.endswith(":proc_maps_open")
    assert ch.on_events([_environ(MAPS_SWEEP - 1, "cat", "proc_maps_open")], ctx)
    assert (
        ch.on_events(
            [_environ(MAPS_SWEEP, "perf", "proc_maps_open"), _environ(300, "perf", "proc_maps_open")], ctx
        )
        == []
    )
    st = ch.status()
    assert st["maps_sweeps_ignored"] == 2 and st["environ_sweeps_ignored"] == 0 and st["attaches"] == 2


def test_a_sweep_count_never_exempts_mem_vm_pidfd_or_attach_checks() -> None:
    """Only maps and environ opens are judged by their sweep: a large count on other acts changes nothing."""
    ch, ctx = PtraceChannel(None), _ctx()
    ops = ["proc_mem_open", "process_vm_readv", "process_vm_writev", "attach_check", "pidfd_getfd"]
    alerts = ch.on_events([_environ(1000, "perf", op) for op in ops], ctx)
    assert [a.evidence["act"] for a in alerts] == ops
    assert [a.code for a in alerts][-1] == "FD_THEFT_DETECTED"
    assert all("sweep" not in a.evidence for a in alerts)
    ptrace = {
        "type": "ptrace",
        "ts_ns": 1,
        "agent": 1,
        "pid": os.getpid(),
        "request_nr": 16,
        "target": 4242,
        "target_pid": 4242,
        "sweep": 1000,
    }
    assert [a.code for a in ch.on_events([ptrace], ctx)] == ["PTRACE_ATTACH_DETECTED"]
    assert ch.status()["maps_sweeps_ignored"] == 0 and ch.status()["environ_sweeps_ignored"] == 0


def test_a_mem_fd_use_is_keyed_as_its_open() -> None:
    """fentry/mem_rw (the use of a /proc/<pid>/mem fd) folds into the open's certificate key.

    An fd opened after attach was certified at its open (proc_mem_open): its writes are the same
    tampering, not a second finding.  An fd opened before attach has no such certificate, so its
    first use is certified -- under the key the open would have had, with the act and direction.
    """
    ch, ctx = PtraceChannel(None), _ctx()
    use = {**_environ(0, "helper", "proc_mem_rw"), "hook": "fentry/mem_rw", "mode": 1}
    opened = {**_environ(0, "helper", "proc_mem_open"), "hook": "fentry/security_ptrace_access_check"}
    a_use, a_open = ch.on_events([use], ctx) + ch.on_events([opened], ctx)
    assert a_use.code == "PROCESS_MEMORY_ACCESS" and a_use.key == a_open.key
    assert a_use.key.endswith(":proc_mem_open")
    assert a_use.evidence["act"] == "proc_mem_rw" and a_use.evidence["direction"] == "write"
    assert ch.on_events([{**use, "mode": 0}], ctx)[0].evidence["direction"] == "read"


def test_a_mem_fd_held_at_attach_is_its_own_finding_and_its_use_is_keyed_as_an_open() -> None:
    """The attach-time scan's record (proc_mem_held) and the tracepoint-mode use of that fd.

    The scan's finding keys as itself (one certificate per holder and target, however many fds);
    the use from sys_enter (held) is the same record as fentry/mem_rw's, keyed as the open, and
    its evidence names the fd and that the open predates the watch.
    """
    ch, ctx = PtraceChannel(None), _ctx()
    held = {
        **_environ(0, "helper", "proc_mem_held"),
        "hook": "attach scan (/proc/*/fd)",
        "arg_fd": 5,
        "mode": 0o2,
    }
    use = {
        **_environ(0, "helper", "proc_mem_rw"),
        "hook": "tp_btf/sys_enter",
        "mode": 1,
        "arg_fd": 5,
        "held": True,
    }
    fentry_use = {**use, "hook": "fentry/mem_rw", "held": False, "arg_fd": -1}
    (a_held,) = ch.on_events([held], ctx)
    (a_use,) = ch.on_events([use], ctx)
    (a_fe,) = ch.on_events([fentry_use], ctx)
    assert a_held.code == a_use.code == "PROCESS_MEMORY_ACCESS"
    assert a_held.key.endswith(":proc_mem_held") and a_use.key.endswith(":proc_mem_open")
    assert a_use.key == a_fe.key  # both modes: one record, one key
    assert a_held.evidence["fd"] == 5 and a_held.evidence["open_flags"] == "0o2"
    assert "before the sensor watched" in a_held.evidence["opened"]
    assert a_use.evidence["direction"] == "write" and a_use.evidence["fd"] == 5
    assert (
        "before the sensor watched" in a_use.evidence["opened"]
        and a_use.evidence["hook"] == "tp_btf/sys_enter"
    )
    assert "opened" not in a_fe.evidence
