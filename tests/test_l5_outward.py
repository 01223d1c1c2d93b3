"""L5 outward: an agent's process tampering with a process OUTSIDE every agent is certified.

Red-team round 10's ``g1r10_ptrace_inject_outsider`` (held out; docs/redteam.md "Round 10"): an agent
process attached to, poked and single-stepped a process in no agent's tree, whose injected code
then connected and wrote where no channel watches.  Every kernel path reported an act only when its
TARGET was in scope, so nothing was seen.  Since session 13 the kernel files such an act under the
CALLER's agent with target_agent 0 (bpf ``tamper_scope``), and L5 certifies it under the inward
act's code with ``tamper_direction: agent_is_tracer`` (docs/detection.md, L5 "The agent on a process
outside it").  Fixed by class on these dev tests, not on the variant.

Real BPF, both modes (fentry's access check in the vmtest guests, sys_enter here): the acts are made
for real by a child of the watched agent on a ``sleep`` this test started (in no agent), and the
kernel's records are judged in order.  The benign side: the agent's read-level looks at the same
outsider (``ps``, /proc/PID/stat and maps) are never reported, and the agent's child tracing its OWN
child stays an inward, uncertified act (its own work, test_l5_own_tree's rule).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from conftest import TIMESCALE
from test_l5_own_tree import _ctx
from test_sensor_gaps import agent_buf, tamper_hook, wait_event, watched

from h7.detect.agents import agent_of
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l5_ptrace import PtraceChannel

#: fixtures this module takes from test_sensor_gaps (a watched gap agent, the sensor's collector)
FIXTURES = (watched,)

#: run by the agent as its child, argv: OUT TARGET [own].  Read-level looks at TARGET first (never
#: reported for an outsider), then PTRACE_ATTACH (waited for, detached), process_vm_readv and
#: process_vm_writev of the same 8 bytes back, /proc/TARGET/mem opened O_RDWR (pread, pwrite the
#: same bytes), pidfd_getfd of its fd 0.  With "own", TARGET is first started here (`sleep`, the
#: agent's own grandchild) and the reads/pidfd step are skipped.  Writes its own pid, TARGET and
#: the results to OUT.
ACTS = r"""
import ctypes, os, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.syscall.restype = ctypes.c_long
class V(ctypes.Structure):
    _fields_ = [("b", ctypes.c_void_p), ("n", ctypes.c_size_t)]
own = len(sys.argv) > 3
child = subprocess.Popen(["sleep", "60"]) if own else None
pid = child.pid if own else int(sys.argv[2])
if not own:
    open(f"/proc/{pid}/stat").read()
    subprocess.run(["ps", "-p", str(pid), "-o", "pid,stat,comm"], capture_output=True, check=True)
def settled():  # exec'd into sleep AND asleep: ld.so has made its RELRO pages read-only by then
    with open(f"/proc/{pid}/stat") as f:
        state = f.read().rsplit(")", 1)[1].split()[0]
    return state == "S" and os.readlink(f"/proc/{pid}/exe").endswith("sleep")
for _ in range(2000):  # bounded: a fresh child may not have exec'd (or relocated) yet
    if settled():
        break
    time.sleep(0.01)
with open(f"/proc/{pid}/maps") as f:
    rw = [int(l.split("-")[0], 16) for l in f if " rw-p " in l]
lo = rw[0]
att = libc.ptrace(16, pid, None, None)
stopped = att == 0 and os.WIFSTOPPED(os.waitpid(pid, 0)[1])
libc.ptrace(17, pid, None, None)
buf = ctypes.create_string_buffer(8)
loc, rem = V(ctypes.addressof(buf), 8), V(lo, 8)
nr = libc.process_vm_readv(pid, ctypes.byref(loc), 1, ctypes.byref(rem), 1, 0)
nw = libc.process_vm_writev(pid, ctypes.byref(loc), 1, ctypes.byref(rem), 1, 0)
fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
same = os.pread(fd, 8, lo)
nm = os.pwrite(fd, same, lo)
os.close(fd)
got = -1
if not own:
    pidfd = libc.syscall(434, pid, 0)  # pidfd_open
    got = libc.syscall(438, pidfd, 0, 0)  # pidfd_getfd(pidfd, its fd 0)
if child:
    child.kill(); child.wait()
with open(sys.argv[1], "w") as f:
    f.write(f"{os.getpid()} {pid} {int(stopped)} {nr} {nw} {nm} {int(got >= 0)}")
"""

#: what the outward acts are certified as, by act
OUTWARD = {
    "ATTACH": "PTRACE_ATTACH_DETECTED",
    "process_vm_readv": "PROCESS_MEMORY_ACCESS",
    "process_vm_writev": "PROCESS_MEMORY_ACCESS",
    "proc_mem_open": "PROCESS_MEMORY_ACCESS",
    "pidfd_getfd": "FD_THEFT_DETECTED",
}


def _acts(agent: Any, tmp_path: Path, *argv: str) -> list[int]:
    script, out = tmp_path / "acts.py", tmp_path / "out.txt"
    script.write_text(f"#!{sys.executable}\n{ACTS}")
    script.chmod(0o755)
    assert agent.cmd(f"run {script} {out} {' '.join(argv)}") == "rc 0"
    return [int(x) for x in out.read_text().split()]


def _live_ctx(root: int) -> ChannelContext:
    """test_l5_own_tree's context with /proc reads on (the live sensor's)."""
    return replace(_ctx(root), proc=ProcReader())


def _agent_no(sensor: Any, root: int) -> int:
    return next(a for a, st in sensor.agents.items() if st.info.root_pid == root)


def _on(target: int) -> Any:
    return lambda e: e["type"] in ("ptrace", "access") and e.get("target") == target


def test_agent_tampering_with_an_outsider_is_certified(watched: Any, tmp_path: Path) -> None:
    """The agent's child attaches, reads, writes, opens the mem of and pulls an fd from a sleeper in no
    agent: five records filed under the agent (target_agent 0), five certificates, agent_is_tracer."""
    sensor, agent, col = watched
    _, _, pid = agent_buf(agent)
    outsider = subprocess.Popen(
        ["sleep", str(int(60 * TIMESCALE))], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    try:
        tool, target, stopped, nr, nw, nm, got = _acts(agent, tmp_path, str(outsider.pid))
        assert (target, stopped, nr, nw, nm, got) == (outsider.pid, 1, 8, 8, 8, 1)
        for what in ("ptrace", "process_vm_writev", "proc_mem_open", "pidfd_getfd"):
            wait_event(
                col,
                lambda e, w=what: _on(outsider.pid)(e) and (e["type"] == w or e.get("op") == w),
                f"the agent's {what} on the outsider",
            )
        time.sleep(0.3 * TIMESCALE)
        col.stop()
        # judged live, while the outsider is there to be named (/proc)
        ch = PtraceChannel(None)
        alerts = ch.on_events(list(col.events), _live_ctx(pid))
    finally:
        outsider.kill()
        outsider.wait()
    seen = [e for e in col.events if _on(outsider.pid)(e)]
    no = _agent_no(sensor, pid)
    assert {e["target_agent"] for e in seen} == {0}, seen
    assert {agent_of(e) for e in seen} == {no}, seen  # filed under the CALLER's agent
    assert {e["hook"] for e in seen} == {tamper_hook(sensor)}, seen
    # the read-level looks (ps, stat, maps) are not reported: only the five attach-level acts
    assert sorted(e.get("op", e["type"]) for e in seen) == sorted(
        ["ptrace", "process_vm_readv", "process_vm_writev", "proc_mem_open", "pidfd_getfd"]
    ), seen
    out = [a for a in alerts if a.evidence["target"]["tid"] == outsider.pid]
    got_codes = sorted((a.evidence.get("act", a.evidence.get("request")), a.code) for a in out)
    assert got_codes == sorted(OUTWARD.items()), got_codes
    for a in out:
        ev = a.evidence
        assert (ev["tamper_direction"], ev["relation"], ev["attacker_monitored"]) == (
            "agent_is_tracer", "target_outside", True
        ), ev  # fmt: skip
        assert ev["attacker"]["pid"] == tool, ev
        assert (ev["target"]["pid"], ev["target"]["comm"], ev["target"]["uid"]) == (
            outsider.pid,
            "sleep",
            0,
        ), ev
        assert ev["target"]["exe"].endswith("/sleep"), ev
    assert ch.status()["outward_acts"] == 5, ch.status()


def test_agent_tracing_its_own_child_stays_its_own_work(watched: Any, tmp_path: Path) -> None:
    """The same attach, reads, writes and mem open by the agent's child on ITS OWN child (`sleep`):
    inward records (the target is in the agent), counted as own work, no certificate, no outward act."""
    sensor, agent, col = watched
    _, _, pid = agent_buf(agent)
    _, sleeper, stopped, nr, nw, nm, _ = _acts(agent, tmp_path, "0", "own")
    assert (stopped, nr, nw, nm) == (1, 8, 8, 8)
    wait_event(col, lambda e: _on(sleeper)(e) and e.get("op") == "proc_mem_open", "the own child's mem open")
    time.sleep(0.3 * TIMESCALE)
    col.stop()
    seen = [e for e in col.events if _on(sleeper)(e)]
    assert seen and all(e["target_agent"] == _agent_no(sensor, pid) for e in seen), seen
    ch = PtraceChannel(None)
    alerts = ch.on_events(list(col.events), _ctx(pid))
    assert [a for a in alerts if a.evidence["target"]["tid"] == sleeper] == [], alerts
    assert ch.status()["outward_acts"] == 0
    assert ch.status()["own_tree_ignored"].get("descendant", 0) >= 4, ch.status()


def test_outward_record_unit() -> None:
    """Kernel-shaped records, replay (no /proc): target_agent 0 is outward, certified under the inward
    act's code with only the tid named; a record without the field (old journals) stays inward."""
    rec = {
        "type": "ptrace", "ts_ns": 3, "agent": 1, "pid": 101, "tid": 101, "ppid": 100, "uid": 0,
        "comm": "x", "request": "ATTACH", "request_nr": 16, "hook": "tp_btf/sys_enter",
        "target": 4242, "target_pid": 4242, "target_agent": 0, "arg_pid": 4242,
    }  # fmt: skip
    ch = PtraceChannel(None)
    alerts = ch.on_events([rec], _ctx(100))
    assert [(a.code, a.evidence["tamper_direction"], a.evidence["relation"]) for a in alerts] == [
        ("PTRACE_ATTACH_DETECTED", "agent_is_tracer", "target_outside")
    ]
    assert alerts[0].evidence["target"] == {"pid": 4242, "tid": 4242}
    old = {k: v for k, v in rec.items() if k != "target_agent"}
    inward = PtraceChannel(None).on_events([old], _ctx(100))
    assert [(a.evidence["tamper_direction"], a.evidence["relation"]) for a in inward] == [
        ("agent_is_target", "unknown")
    ]
