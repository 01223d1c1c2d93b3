"""Real BPF: an agent sampled by a perf event, or retuned through its /proc knobs (issue 13, round 8).

Red-team round 8 reached a watched agent two ways no hook named:

* ``perf_event_open`` bound to the agent's pid with PERF_SAMPLE_STACK_USER:
  at every sample the kernel copies the agent's user stack (and registers)
  into the caller's ring buffer -- its memory read without ptrace, /proc or
  process_vm_readv.  The kernel gates it with a READ-level access check, so
  fentry mode's attach-level hook does not see it either: sys_enter reads the
  syscall's arguments in both modes (g2r8_perf_stack_sample, and _ns by the
  namespace pid);
* ``/proc/<pid>/oom_score_adj`` and ``timerslack_ns`` written by another
  process (g3r8_proc_knob_tamper_ns): gated by credentials or CAP_SYS_NICE,
  never by the ptrace check.  The open's exit (both modes) reports any of the
  agent's /proc/<pid> files opened for WRITING, by the returned file's procfs
  inode, so no path spelling hides it.

Neither is reported when the caller belongs to the agent itself (a tool the
agent runs profiling or retuning another of its processes is its own work),
nor for a perf event that names no agent task (pid 0, a CPU-wide event).
Each act runs for real, in this process or a separate one, against a live agent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import TIMESCALE
from test_sensor_gaps import (
    access_to,
    agent_buf,
    agent_in_own_namespaces,
    bystander,
    l5_certified,
    wait_event,
    watched,
    watching,
)

#: fixtures this module takes from test_sensor_gaps (a watched gap agent, the sensor's collector)
FIXTURES = (watched,)
EXIT_HOOKS = (
    "tracepoint/syscalls/sys_exit_openat",
    "tracepoint/syscalls/sys_exit_open",
    "tracepoint/syscalls/sys_exit_openat2",
)
STACK_USER = 0x2000

#: perf_event_open(task-clock sampling with PERF_SAMPLE_TID|REGS_USER|STACK_USER) on argv[1]
#: (pid) and argv[2] (cpu), for 0.2 s; prints "<own pid> <fd or -errno>".  What round 8 did,
#: run as its own process so that the caller can be inside a namespace or inside the agent.
PERF = r"""
import ctypes, os, sys, time
class Attr(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32), ("config", ctypes.c_uint64),
                ("sample_period", ctypes.c_uint64), ("sample_type", ctypes.c_uint64),
                ("read_format", ctypes.c_uint64), ("flags", ctypes.c_uint64),
                ("wakeup_events", ctypes.c_uint32), ("bp_type", ctypes.c_uint32),
                ("config1", ctypes.c_uint64), ("config2", ctypes.c_uint64),
                ("branch_sample_type", ctypes.c_uint64), ("sample_regs_user", ctypes.c_uint64),
                ("sample_stack_user", ctypes.c_uint32), ("clockid", ctypes.c_int32),
                ("sample_regs_intr", ctypes.c_uint64)]
libc = ctypes.CDLL(None, use_errno=True)
a = Attr(type=1, size=ctypes.sizeof(Attr), config=1, sample_period=1000000,
         sample_type=0x2 | 0x1000 | 0x2000, flags=1 << 5 | 1 << 6, wakeup_events=1,
         sample_regs_user=0xFF, sample_stack_user=8192)
pid = int(sys.argv[1]) if sys.argv[1] != "ppid" else os.getppid()
fd = libc.syscall(298, ctypes.byref(a), pid, int(sys.argv[2]), -1, 0)
if fd >= 0:
    time.sleep(0.2)
    os.close(fd)
print(os.getpid(), fd if fd >= 0 else -ctypes.get_errno(), flush=True)
"""

#: writes each named /proc/<argv[1]>/<knob> with the value it holds (nothing changes), then opens
#: it read-only; prints its own pid
KNOBS = r"""
import os, sys
pid = sys.argv[1] if sys.argv[1] != "ppid" else str(os.getppid())
for knob in sys.argv[2:]:
    path = f"/proc/{pid}/{knob}"
    with open(path) as f:
        v = f.read().strip()
    with open(path, "w") as f:
        f.write(v)
print(os.getpid(), flush=True)
"""


def _run(code: str, *args: str, prefix: tuple[str, ...] = ()) -> list[int]:
    r = subprocess.run(
        [*prefix, sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=30 * TIMESCALE
    )
    assert r.returncode == 0, r.stderr
    return [int(x) for x in r.stdout.split()]


def test_perf_event_sampling_the_agent_is_memory_access(watched: Any) -> None:
    """perf_event_open(pid = the agent) with PERF_SAMPLE_STACK_USER by another process: certified.

    g2r8_perf_stack_sample.  Reported at sys_enter in both modes (the read-level check of
    perf_check_permission passes fentry's attach-level hook by).
    """
    _, agent, col = watched
    _, _, pid = agent_buf(agent)
    caller, fd = _run(PERF, str(pid), "-1")
    assert fd >= 0, os.strerror(-fd)
    e = wait_event(col, access_to(pid, "perf_event_open", caller), "perf_event_open on the agent")
    assert e["hook"] == "tp_btf/sys_enter" and e["arg_pid"] == pid and e["mode"] & STACK_USER, e
    alerts = l5_certified(e)
    assert [a.code for a in alerts] == ["PROCESS_MEMORY_ACCESS"], alerts
    ev = alerts[0].evidence
    assert ev["act"] == "perf_event_open" and ev["copies_user_stack"] and ev["cpu"] == -1, ev


def test_perf_events_that_name_no_outside_target_are_not_reported(watched: Any) -> None:
    """pid 0 (itself), a CPU-wide event, an unwatched process, and the agent's own child on the agent.

    None is an outsider reaching into the agent: no record.  The same child's program run by
    an outsider on the agent is reported (the control).
    """
    _, agent, col = watched
    _, _, pid = agent_buf(agent)
    with bystander() as other:
        for target, cpu in (("0", "-1"), ("-1", "0"), (str(other.pid), "-1")):
            _, fd = _run(PERF, target, cpu)
            assert fd >= 0, (target, cpu, os.strerror(-fd))
    script = Path(f"/tmp/h7-perf-own-{os.getpid()}.py")
    script.write_text(f"#!{sys.executable}\n{PERF}")
    script.chmod(0o755)
    try:
        # the agent's own child samples the agent (its parent): inside the agent, not reported
        assert agent.cmd(f"run {script} ppid -1") == "rc 0"
    finally:
        script.unlink()
    caller, fd = _run(PERF, str(pid), "-1")  # the control: an outsider
    assert fd >= 0
    wait_event(col, access_to(pid, "perf_event_open", caller), "the outsider's perf event")
    time.sleep(0.3 * TIMESCALE)
    col.stop()
    perf = [e for e in col.events if e["type"] == "access" and e["op"] == "perf_event_open"]
    assert [e["pid"] for e in perf] == [caller], perf


def test_proc_knob_writes_are_limit_changes(watched: Any) -> None:
    """oom_score_adj and timerslack_ns of the agent written by another process (g3r8's acts).

    Each writable open is reported by the procfs inode the open returned; a read-only open
    of the same files is not; L5 certifies PROCESS_LIMITS_CHANGED naming the file.
    """
    _, agent, col = watched
    _, _, pid = agent_buf(agent)
    (caller,) = _run(KNOBS, str(pid), "oom_score_adj", "timerslack_ns")
    for knob in ("oom_score_adj", "timerslack_ns"):
        e = wait_event(
            col,
            lambda e, k=knob: access_to(pid, "proc_write_open", caller)(e) and e["file"] == k,
            f"{knob} opened for writing",
        )
        assert e["hook"] in EXIT_HOOKS and e["arg_pid"] == pid and e["mode"] & 0o3 == os.O_WRONLY, e
        alerts = l5_certified(e)
        assert [a.code for a in alerts] == ["PROCESS_LIMITS_CHANGED"], alerts
        assert alerts[0].evidence["file"] == knob and alerts[0].evidence["resolved_by"] == "procfs inode"
    time.sleep(0.3 * TIMESCALE)
    col.stop()
    writes = [e for e in col.events if e["type"] == "access" and e["op"] == "proc_write_open"]
    assert sorted(e["file"] for e in writes) == ["oom_score_adj", "timerslack_ns"], writes


def test_knob_writes_inside_the_agent_and_on_unwatched_processes_are_not_reported(watched: Any) -> None:
    """The agent's own child rewriting the agent's oom_score_adj, and an outsider an unwatched one's."""
    _, agent, col = watched
    _, _, pid = agent_buf(agent)
    script = Path(f"/tmp/h7-knob-own-{os.getpid()}.py")
    script.write_text(f"#!{sys.executable}\n{KNOBS}")
    script.chmod(0o755)
    try:
        assert agent.cmd(f"run {script} ppid oom_score_adj") == "rc 0"
    finally:
        script.unlink()
    with bystander() as other:
        _run(KNOBS, str(other.pid), "oom_score_adj", "timerslack_ns")
    (caller,) = _run(KNOBS, str(pid), "oom_score_adj")  # the control: an outsider, on the agent
    wait_event(col, access_to(pid, "proc_write_open", caller), "the outsider's write")
    time.sleep(0.3 * TIMESCALE)
    col.stop()
    writes = [e for e in col.events if e["type"] == "access" and e["op"] == "proc_write_open"]
    assert [e["pid"] for e in writes] == [caller], writes


def test_perf_and_knob_writes_by_namespace_pid(sensor: Any) -> None:
    """From inside the agent's PID and mount namespaces: perf_event_open(1), /proc/1/oom_score_adj.

    g3r8_perf_stack_sample_ns and g3r8_proc_knob_tamper_ns: the namespace pid 1 names the agent
    (host pid 1 is never taken), through the caller's PID namespace (perf) and through the
    container's procfs inode (the knob).
    """
    with agent_in_own_namespaces() as host_pid:
        with watching(sensor, host_pid) as col:
            enter = ("nsenter", "--target", str(host_pid), "--mount", "--pid", "--")
            _, fd = _run(PERF, "1", "-1", prefix=enter)
            assert fd >= 0, os.strerror(-fd)
            _run(KNOBS, "1", "oom_score_adj", prefix=enter)
            perf = wait_event(col, access_to(host_pid, "perf_event_open"), "perf by namespace pid")
            assert perf["arg_pid"] == 1 and perf["hook"] == "tp_btf/sys_enter", perf
            knob = wait_event(
                col, access_to(host_pid, "proc_write_open"), "knob through the container's /proc"
            )
            assert knob["arg_pid"] == 1 and knob["file"] == "oom_score_adj" and knob["hook"] in EXIT_HOOKS, (
                knob
            )
        assert not [e for e in col.events if e["type"] == "access" and e["target_pid"] == 1]
