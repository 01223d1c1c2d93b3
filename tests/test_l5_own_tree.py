"""L5 inside the agent's own tree: an agent process acting on its own work is counted, not certified.

Red-team round 9's first run (held out) certified 7 benign acts where a process of the agent acted
on ANOTHER process of the same agent: ``gdb -p`` run by the agent on the test it started (attach,
mem/auxv/maps opens, gdb's probe of its own /proc/self/mem) and a py-spy-style dump of the agent's
own forked worker (maps, process_vm_readv).  The rule (docs/detection.md, L5 "Inside the agent"):
an accessor acting on its own descendant, or on another branch that runs a program (an exec on the
target's branch), gains nothing; one acting on an ancestor (the agent's root holds its keys), on a
forked copy of an agent process in another branch, or from outside, is certified.

The unit tests drive the channel with kernel-shaped records; the real-BPF tests make the acts for
real under the sensor (the agent's own child, its grandchild, gdb on a sibling) and judge the
records the kernel sent, in order, with the agent's root as the sensor attached it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import TIMESCALE
from test_sensor_bpf import Collector
from test_sensor_gaps import access_to, agent_buf, wait_event, watched

from h7.batch import AgentInfo
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l5_ptrace import Lineage, PtraceChannel
from h7.detect.engine import EngineConfig

#: fixtures this module takes from test_sensor_gaps (a watched gap agent, the sensor's collector)
FIXTURES = (watched,)
ROOT = 100


def _ctx(root: int = ROOT) -> ChannelContext:
    info = AgentInfo(
        agent=1, agent_id="a", root_pid=root, exe="/usr/bin/python3", cmdline=[], start_time_ns=0
    )
    return ChannelContext(
        agent=1, agent_id="a", info=info, config=EngineConfig(), proc=ProcReader(enabled=False)
    )


def _fork(parent: int, child: int, ppid: int = 1) -> dict[str, Any]:
    return {"type": "fork", "pid": parent, "tid": parent, "ppid": ppid, "child": child, "ts_ns": 1}


def _exec(pid: int, ppid: int) -> dict[str, Any]:
    return {"type": "exec", "pid": pid, "tid": pid, "ppid": ppid, "filename": "/bin/x", "ts_ns": 2}


def _access(by: int, ppid: int, target: int, op: str = "process_vm_readv") -> dict[str, Any]:
    return {
        "type": "access", "ts_ns": 3, "agent": 1, "pid": by, "tid": by, "ppid": ppid, "uid": 0,
        "comm": "x", "op": op, "hook": "tp_btf/sys_enter", "target": target, "target_pid": target,
        "target_agent": 1, "mode": 0, "arg_pid": target, "arg_fd": -1, "nr": 310, "sweep": 0,
    }  # fmt: skip


def _tree() -> list[dict[str, Any]]:
    """root 100 -> 101 (forked worker, no exec), 102 (tool: exec'd) -> 103 (its fork), 104 (exec'd)."""
    return [
        _fork(ROOT, 101),
        _fork(ROOT, 102),
        _exec(102, ROOT),
        _fork(102, 103, ROOT),
        _fork(ROOT, 104),
        _exec(104, ROOT),
    ]


def test_lineage_relations() -> None:
    lin = Lineage()
    for ev in _tree():
        lin.on_event(ev)
    assert lin.relation(ROOT, 101, ROOT) == "descendant"
    assert lin.relation(102, 103, ROOT) == "descendant"
    assert lin.relation(103, 102, ROOT) == "ancestor"
    assert lin.relation(103, ROOT, ROOT) == "ancestor"
    assert lin.relation(102, 104, ROOT) == "sideways_program"  # the exec'd sibling
    assert lin.relation(103, 104, ROOT) == "sideways_program"
    assert lin.relation(104, 101, ROOT) == "sideways_copy"  # a forked copy of the root's memory
    assert lin.relation(104, 103, ROOT) == "sideways_program"  # 103 is a fork of exec'd 102
    assert lin.relation(999, 101, ROOT) == "outside"
    assert lin.relation(ROOT, 555, ROOT) == "unknown"
    lin.on_event(_fork(ROOT, 104))  # pid 104 reused by a new fork: no exec yet
    assert lin.relation(102, 104, ROOT) == "sideways_copy"


@pytest.mark.parametrize(
    ("by", "ppid", "target", "certified"),
    [
        (ROOT, 77, 101, False),  # the agent on its own forked worker (py-spy dump)
        (102, ROOT, 103, False),  # a tool on its own child
        (102, ROOT, 104, False),  # gdb (a tool) on the test another tool runs
        (103, 102, ROOT, True),  # a tool's child reading the agent's root: its keys
        (103, 102, 102, True),  # ... or its own parent
        (104, ROOT, 101, True),  # a tool reading a forked copy of the root's memory
        (ROOT, 77, 102, True),  # the agent's own code reading its tool program (not a debugger)
        (101, ROOT, 104, True),  # a forked copy of the agent on an exec'd sibling (g2r3's class)
        (101, ROOT, 103, True),  # ... or on a fork of a tool program (its memory is the program's)
        (999, 1, 101, True),  # an outsider
    ],
)
def test_certified_by_relation(by: int, ppid: int, target: int, certified: bool) -> None:
    ch, ctx = PtraceChannel(None), _ctx()
    alerts = ch.on_events([*_tree(), _access(by, ppid, target)], ctx)
    assert bool(alerts) == certified, alerts
    if certified:
        assert alerts[0].code == "PROCESS_MEMORY_ACCESS"
        assert alerts[0].evidence["relation"] in (
            "ancestor", "sideways_copy", "outside", "descendant", "sideways_program"
        )  # fmt: skip
    else:
        assert sum(ch.status()["own_tree_ignored"].values()) == 1


def test_ptrace_attach_follows_the_same_rule() -> None:
    ch, ctx = PtraceChannel(None), _ctx()
    pt = {**_access(102, ROOT, 104), "type": "ptrace", "request_nr": 16}
    assert ch.on_events([*_tree(), pt], ctx) == []
    up = {**_access(104, ROOT, ROOT), "type": "ptrace", "request_nr": 16}
    assert [a.code for a in ch.on_events([up], ctx)] == ["PTRACE_ATTACH_DETECTED"]


def test_agent_code_attaching_its_tool_is_certified_a_debugger_is_not() -> None:
    """PTRACE_ATTACH inside the agent: gdb (exec'd 102) on the exec'd test 104 is counted; a forked
    copy of the agent (101, no exec) attaching the same program is certified, relation kept."""
    ch, ctx = PtraceChannel(None), _ctx()
    gdb = {**_access(102, ROOT, 104), "type": "ptrace", "request_nr": 16}
    assert ch.on_events([*_tree(), gdb], ctx) == []
    copy = {**_access(101, ROOT, 104), "type": "ptrace", "request_nr": 16}
    got = [(a.code, a.evidence["relation"]) for a in ch.on_events([copy], ctx)]
    assert got == [("PTRACE_ATTACH_DETECTED", "sideways_program")], got
    assert ch.status()["own_tree_ignored"] == {"sideways_program": 1}


def test_fd_pull_follows_the_same_rule() -> None:
    """pidfd_getfd inside the agent: the agent pulling its own tool's fd (an L3 hand-back, session 11's
    l3k-next) is counted; a tool's child pulling the root's fds (its model and API sockets) is
    FD_THEFT_DETECTED (tests/test_l3_handback pins the first with real BPF)."""
    ch, ctx = PtraceChannel(None), _ctx()
    assert ch.on_events([*_tree(), _access(ROOT, 77, 102, "pidfd_getfd")], ctx) == []
    assert ch.status()["own_tree_ignored"] == {"descendant": 1}
    up = ch.on_events([_access(103, 102, ROOT, "pidfd_getfd")], ctx)
    assert [(a.code, a.evidence["relation"]) for a in up] == [("FD_THEFT_DETECTED", "ancestor")], up


def test_own_writable_mem_of_an_execd_tool_is_its_own_program() -> None:
    """gdb's probe of its own /proc/self/mem: a tool's memory, not the agent's; the root's stays certified."""
    ch, ctx = PtraceChannel(None), _ctx()

    def own_mem(pid: int, ppid: int) -> dict[str, Any]:
        return {"type": "open", "op": "openat", "pid": pid, "tid": pid, "ppid": ppid, "ts_ns": 5,
                "path": "/proc/self/mem", "flags": os.O_RDWR, "comm": "x", "uid": 0}  # fmt: skip

    assert ch.on_events([*_tree(), own_mem(104, ROOT)], ctx) == []
    assert [a.evidence["act"] for a in ch.on_events([own_mem(ROOT, 77)], ctx)] == ["own_mem_open_writable"]
    assert [a.evidence["act"] for a in ch.on_events([own_mem(101, ROOT)], ctx)] == ["own_mem_open_writable"]


def test_no_root_no_exemption() -> None:
    """Without the agent's root (no AgentInfo), every act is certified as before."""
    ch = PtraceChannel(None)
    ctx = ChannelContext(agent=1, agent_id="a", info=None, config=EngineConfig())
    assert ch.on_events([*_tree(), _access(ROOT, 77, 101)], ctx)


# ------------------------------------------------------------------ real BPF

#: run by the agent as its child: forks a worker (no exec), reads its maps and 64 bytes of its
#: heap with process_vm_readv, then the same of its own parent (the agent); prints the pids
OWN_TREE = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
class V(ctypes.Structure):
    _fields_ = [("b", ctypes.c_void_p), ("n", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(64)
def readv(pid):
    with open(f"/proc/{pid}/maps") as f:
        lo = next(int(l.split("-")[0], 16) for l in f if " rw-p " in l)
    loc, rem = V(ctypes.addressof(buf), 64), V(lo, 64)
    return libc.process_vm_readv(pid, ctypes.byref(loc), 1, ctypes.byref(rem), 1, 0)
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.close(w); os.read(r, 1); os._exit(0)
time.sleep(0.1)
n_down = readv(child)
os.close(w); os.waitpid(child, 0)
n_up = readv(os.getppid())
with open(sys.argv[1], "w") as f:
    f.write(f"{os.getpid()} {child} {n_down} {n_up}")
"""

#: run by the agent as its child: starts `sleep` (the "hung test") and `gdb -batch -p` on it
GDB = r"""
import os, subprocess, sys
scale = float(os.environ.get("H7_TEST_TIMESCALE") or 1)  # emulated guests: gdb takes minutes
hung = subprocess.Popen(["sleep", str(int(30 * scale))])
try:
    r = subprocess.run(["gdb", "-nx", "-batch", "-p", str(hung.pid), "-ex", "bt"],
                       capture_output=True, text=True, timeout=60 * scale)
finally:
    hung.kill(); hung.wait()
with open(sys.argv[1], "w") as f:
    f.write(f"{hung.pid} {r.returncode} {int('#0' in r.stdout)}")
"""


def _judge(col: Collector, root: int) -> tuple[PtraceChannel, list[Any]]:
    """L5's verdicts on everything the kernel sent, in order, for the agent rooted at ``root``."""
    ch = PtraceChannel(None)
    return ch, ch.on_events(list(col.events), _ctx(root))


def _script(agent: Any, code: str, tmp_path: Path) -> list[int]:
    script, out = tmp_path / "act.py", tmp_path / "out.txt"
    script.write_text(f"#!{sys.executable}\n{code}")
    script.chmod(0o755)
    assert agent.cmd(f"run {script} {out}") == "rc 0"
    return [int(x) for x in out.read_text().split()]


def test_own_descendant_is_not_certified_the_ancestor_is(watched: Any, tmp_path: Path) -> None:
    """The agent's child reads its own forked worker (not certified), then the agent (certified)."""
    _, agent, col = watched
    _, _, pid = agent_buf(agent)
    tool, worker, n_down, n_up = _script(agent, OWN_TREE, tmp_path)
    assert n_down == 64 and n_up == 64, (n_down, n_up)
    wait_event(col, access_to(worker, "process_vm_readv", tool), "the tool on its own worker")
    wait_event(col, access_to(pid, "process_vm_readv", tool), "the tool on the agent")
    time.sleep(0.3 * TIMESCALE)
    col.stop()
    ch, alerts = _judge(col, pid)
    got = sorted((a.evidence["target"]["pid"], a.evidence["act"], a.evidence["relation"]) for a in alerts)
    assert got == [(pid, "proc_maps_open", "ancestor"), (pid, "process_vm_readv", "ancestor")], got
    assert ch.status()["own_tree_ignored"] == {"descendant": 2}, ch.status()


def test_outsider_on_the_agents_worker_is_certified(watched: Any, tmp_path: Path) -> None:
    """The same reads by a process outside the agent: certified, relation "outside"."""
    _, agent, col = watched
    _, _, pid = agent_buf(agent)
    r = subprocess.run(
        [sys.executable, "-c", OWN_TREE.replace("os.getppid()", str(pid)), str(tmp_path / "o.txt")],
        capture_output=True, text=True, timeout=30 * TIMESCALE,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    outsider = int((tmp_path / "o.txt").read_text().split()[0])
    wait_event(col, access_to(pid, "process_vm_readv", outsider), "the outsider on the agent")
    time.sleep(0.3 * TIMESCALE)
    col.stop()
    _, alerts = _judge(col, pid)
    assert {a.evidence["relation"] for a in alerts} == {"outside"}, alerts
    assert {a.evidence["act"] for a in alerts} == {"proc_maps_open", "process_vm_readv"}


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")
def test_gdb_on_a_test_the_agent_started_is_not_certified(watched: Any, tmp_path: Path) -> None:
    """gdb -p (the agent's tool's child) on `sleep` (its sibling, exec'd): attach and reads not certified."""
    _, agent, col = watched
    _, _, pid = agent_buf(agent)
    hung, rc, bt = _script(agent, GDB, tmp_path)
    assert rc == 0 and bt == 1, (rc, bt)
    wait_event(col, lambda e: e["type"] == "ptrace" and e["target_pid"] == hung, "gdb's attach")
    time.sleep(0.5 * TIMESCALE)
    col.stop()
    ch, alerts = _judge(col, pid)
    assert alerts == [], [(a.code, a.evidence) for a in alerts]
    ignored = ch.status()["own_tree_ignored"]
    assert ignored.get("sideways_program", 0) >= 2, ignored  # the attach and at least one /proc open
