"""Real BPF: a file received over a unix socket (SCM_RIGHTS) is a read of that file for L3.

Why: L3's read edges came only from opens.  Red-team round 8's fd hand-back
class: a helper the agent started opens and writes its result file, then passes
the OPEN fd back; the agent reads it and never opens the path, so no record
named what it read and the loop went unseen.  The kernel now says which file
each SCM_RIGHTS fd installed into a watched process is (H7_EV_FILE, op
``received``, at recvmsg/recvmmsg's exit) and which file a watched writable
open returned (op ``opened``); L3 joins them by (dev, inode, generation).

Driven by tests/agents/handback_agent.py (the dev class, written for these
tests, not the red-team variant).  The same tracepoints run in both modes: the
vmtest guests run this file too.  Negatives: the agent reading back, through a
helper's fd, a file it wrote itself is no flow (no loop), and a file nobody
watched wrote stays out of the graph.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_cal_lifecycle import small_tmpfs
from test_sensor_bpf import Collector
from test_sensor_gaps import Agent, access_to, wait_event, watched_agent

from h7.batch import AgentInfo
from h7.decode import SHM_RDONLY
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l3_causal import CausalChannel, CausalGraphBuilder, ProcEdge
from h7.detect.channels.l5_ptrace import PtraceChannel
from h7.detect.engine import EngineConfig
from h7.sensor.sensor import RECV_EXIT_PROGRAMS, SHM_EXIT_PROGRAMS

AGENT = Path(__file__).resolve().parent / "agents" / "handback_agent.py"


@pytest.fixture
def watched(sensor: Any) -> Iterator[tuple[Any, Agent, Collector]]:
    """handback_agent.py, ready, under the sensor."""
    with watched_agent(sensor, [sys.executable, str(AGENT)], reply="ready") as w:
        yield w


def _received(col: Collector, pid: int, name: str, hook: str) -> dict[str, Any]:
    return wait_event(
        col,
        lambda e: e["type"] == "file" and e["op"] == "received" and e["pid"] == pid and e["name"] == name
        and e["hook"] == hook,
        f"{name} received by {pid} ({hook})",
    )  # fmt: skip


def _flows(col: Collector, agent: Agent) -> tuple[CausalGraphBuilder, list[ProcEdge]]:
    col.stop()
    events = sorted(col.events, key=lambda e: int(e.get("ts_ns", 0)))
    b = CausalGraphBuilder(agent.proc.pid, sys.executable)
    flows: list[ProcEdge] = []
    b.edges(events, flows)
    return b, flows


def test_recv_exits_attached(sensor: Any) -> None:
    """Both exits attach wherever per-syscall tracepoints exist (this host and every guest)."""
    state = {h.program: h.state for h in sensor.hooks}
    assert all(state.get(p) == "attached" for p in RECV_EXIT_PROGRAMS), state


@pytest.mark.parametrize(
    "cmd,hook",
    [
        ("result", "tracepoint/syscalls/sys_exit_recvmsg"),
        ("mmsg", "tracepoint/syscalls/sys_exit_recvmmsg"),
    ],
)
def test_helper_result_passed_as_fd_closes_the_loop(
    watched: Any, tmp_path: Path, cmd: str, hook: str
) -> None:
    """The helper writes result.json and passes the fd: a flow helper -> agent, reached by the spawn."""
    _, agent, col = watched
    out = agent.cmd(f"{cmd} {tmp_path}")
    assert out.startswith("read 15 "), out
    path = str(tmp_path / "result.json")
    rec = _received(col, agent.proc.pid, "result.json", hook)
    opened = wait_event(
        col,
        lambda e: e["type"] == "file" and e["op"] == "opened" and e["name"] == "result.json",
        "the helper's writable open of result.json",
    )
    st = os.stat(path)
    same = (rec["ino"], rec["gen"], rec["dev"]) == (st.st_ino, opened["gen"], opened["dev"])
    assert same and opened["ino"] == st.st_ino, (rec, opened)
    assert opened["pid"] != agent.proc.pid and rec["flags"] & 3 == os.O_RDWR, (opened, rec)
    b, flows = _flows(col, agent)
    got = [f for f in flows if f.kind == "flow" and f.path == path and b.is_agent(f.dst)]
    assert got, flows
    fe = got[0]
    assert fe.dst.split(".")[0] == str(agent.proc.pid) and fe.src.split(".")[0] == str(opened["pid"])
    # the writer was the agent's child when it wrote: the loop rule's closing condition (ProcEdge.via)
    assert fe.via is not None and fe.via.kind == "spawn" and b.is_agent(fe.via.src), fe
    l3 = CausalChannel(EngineConfig())
    l3.builder = b
    l3._add_flows(flows)
    assert l3._path(fe.dst, fe.src) is not None


def test_agent_own_file_handed_back_is_no_flow(watched: Any, tmp_path: Path) -> None:
    """A helper passing the agent its OWN file (opened read-only) is the agent reading its own data."""
    _, agent, col = watched
    out = agent.cmd(f"own {tmp_path}")
    assert out.startswith("read 22 "), out
    path = str(tmp_path / "notes.txt")
    rec = _received(col, agent.proc.pid, "notes.txt", "tracepoint/syscalls/sys_exit_recvmsg")
    assert rec["flags"] & 3 == os.O_RDONLY, rec
    b, flows = _flows(col, agent)
    assert b.inode_paths.get((rec["dev"], rec["ino"], rec["gen"])) == path  # the agent's own write named it
    into_agent = [f for f in flows if f.kind == "flow" and f.path == path and b.is_agent(f.dst)]
    assert not into_agent, into_agent
    # the helper read the agent's file (fed), and nothing flowed back
    assert any(f.kind == "flow" and f.path == path and not b.is_agent(f.dst) for f in flows), flows


def test_shm_exits_attached(sensor: Any) -> None:
    state = {h.program: h.state for h in sensor.hooks}
    assert all(state.get(p) == "attached" for p in SHM_EXIT_PROGRAMS), state


def _shm_events(col: Collector, agent: Agent, shmid: int, ops: tuple[str, ...]) -> None:
    for op in ops:
        wait_event(
            col,
            lambda e, op=op: e["type"] == "shm" and e["op"] == op and e["shmid"] == shmid,
            f"shm{op} of segment {shmid}",
        )


def test_sysv_segment_written_while_the_agent_holds_it_closes_the_loop(watched: Any) -> None:
    """The agent attaches a segment, its child attaches it read-write and stores a result: a loop."""
    _, agent, col = watched
    out = agent.cmd("shm_loop")
    assert out.endswith("""read b'{"answer": 42}\\n'"""), out
    shmid = int(out.split()[1])
    _shm_events(col, agent, shmid, ("get", "at"))
    wait_event(col, lambda e: e["type"] == "shm" and e["op"] == "dt" and e["pid"] == agent.proc.pid, "shmdt")
    b, flows = _flows(col, agent)
    ats = [e for e in col.events if e["type"] == "shm" and e["op"] == "at" and e["shmid"] == shmid]
    writer = [e for e in ats if e["pid"] != agent.proc.pid]
    assert writer and not writer[0]["flags"] & SHM_RDONLY, ats
    assert writer[0]["hook"] == "tracepoint/syscalls/sys_exit_shmat", writer
    got = [f for f in flows if f.kind == "flow" and f.path.startswith("shm:sysv:") and b.is_agent(f.dst)]
    assert got and got[0].src.split(".")[0] == str(writer[0]["pid"]), flows
    # how the agent reached the writer before it wrote (the loop rule's condition): the agent's own
    # attachment fed it (a flow of the segment) or, failing that, its spawn
    assert got[0].via is not None and b.is_agent(got[0].via.src), got
    assert got[0].proj[1] == "shm:sysv"


def test_sysv_task_read_by_a_child_is_no_loop(watched: Any) -> None:
    """The agent writes a task into its segment, a child attaches it SHM_RDONLY: nothing flows back."""
    _, agent, col = watched
    out = agent.cmd("shm_task")
    assert out.endswith("read b'task: summarise'"), out
    shmid = int(out.split()[1])
    _shm_events(col, agent, shmid, ("get", "at"))
    wait_event(
        col,
        lambda e: (
            e["type"] == "shm" and e["op"] == "at" and e["pid"] != agent.proc.pid and e["shmid"] == shmid
        ),
        "the child's read-only shmat",
    )
    b, flows = _flows(col, agent)
    seg = [f for f in flows if f.kind == "flow" and f.path.startswith("shm:sysv:")]
    assert seg and all(not b.is_agent(f.dst) for f in seg), seg  # the child was fed; no flow back


def _ev(t: str, pid: int, ts: int, **kw: Any) -> dict[str, Any]:
    return {"type": t, "pid": pid, "tid": pid, "ts_ns": ts, "comm": "x", **kw}


def _tool_wrote(agent: int, child: int, name: str, ino: dict[str, int]) -> list[dict[str, Any]]:
    """The agent forks ``child``, which execs a tool that opens /w/NAME for writing (and its file record)."""
    return [
        _ev("fork", agent, 1, child=child),
        _ev("exec", child, 2, filename="/usr/bin/tool", interp="", exe_name="tool"),
        _ev("open", child, 3, op="openat", dfd=-100, path=f"/w/{name}", flags=os.O_WRONLY | os.O_CREAT),
        _ev("file", child, 4, op="opened", fd=3, flags=os.O_WRONLY, name=name, **ino),
    ]


def test_a_renamed_file_passed_as_fd_is_its_new_name_and_an_unknown_inode_no_node() -> None:
    """Records as the kernel sends them (no BPF): a child writes out.tmp, renames it to out.json and
    passes the fd; the receipt is a read of out.json (the inode follows the rename).  A received file
    whose inode no watched writable open named adds no edge and no flow (nothing to call it)."""
    agent, child = 100, 101
    ino = {"dev": 8, "ino": 77, "gen": 3}
    events = [
        *_tool_wrote(agent, child, "out.tmp", ino),
        _ev("open", child, 5, op="rename_from", dfd=-100, path="/w/out.tmp", flags=0),
        _ev("open", child, 6, op="rename_to", dfd=-100, path="/w/out.json", flags=0),
        _ev("file", agent, 7, op="received", fd=5, flags=os.O_RDONLY, name="out.json", **ino),
        _ev("file", agent, 8, op="received", fd=6, flags=os.O_RDONLY, name="other", dev=8, ino=78, gen=1),
    ]
    b = CausalGraphBuilder(agent, "/usr/bin/python3")
    flows: list[ProcEdge] = []
    edges = b.edges(events, flows)
    got = [f for f in flows if f.kind == "flow"]
    assert [(f.path, f.src.split(".")[0], f.dst.split(".")[0]) for f in got] == [
        ("/w/out.json", "101", "100")
    ]
    assert got[0].via is not None and got[0].via.kind == "spawn"
    assert ("file:/w/*.json", "exe:/usr/bin/python3", "read") in edges, edges
    assert not [e for e in edges if "other" in e[0]], edges


@pytest.mark.parametrize(
    "cmd,op,hook",
    [
        ("handle", "by_handle", "tracepoint/syscalls/sys_exit_open_by_handle_at"),
        ("getfd", "taken", "tracepoint/syscalls/sys_exit_pidfd_getfd"),
    ],
)
def test_helper_result_held_without_a_path_open_closes_the_loop(
    watched: Any, tmp_path: Path, cmd: str, op: str, hook: str
) -> None:
    """The helper wrote result.json; the agent opens it by its handle, or pulls the helper's fd with
    pidfd_getfd: no path open of its own, the file record names the inode, the loop closes.

    The handle case works in a tmpfs of its own: name_to_handle_at needs a filesystem with export
    operations, which the vmtest guests' 9p root (where pytest's tmp_path lies) has not (EOPNOTSUPP,
    session 11's 6.1 guest); tmpfs has them on every kernel, so the case runs on the host and in
    every guest alike instead of being skipped anywhere.

    The getfd case is also L5's: the agent pulling its OWN child's fd is an act on its own
    descendant (c046722's relation rule), counted and not certified; the same pull by a process
    outside the agent stays FD_THEFT_DETECTED (tests/test_sensor_gaps, test_l5_own_tree)."""
    _, agent, col = watched
    with small_tmpfs(tmp_path / "fs", "1m") if cmd == "handle" else contextlib.nullcontext(tmp_path) as d:
        out = agent.cmd(f"{cmd} {d}")
        assert out.startswith("read 15 "), out
        path = str(d / "result.json")
        rec = wait_event(
            col,
            lambda e: (
                e["type"] == "file" and e["op"] == op and e["pid"] == agent.proc.pid and e["hook"] == hook
            ),
            f"{op} file record of the agent",
        )
        assert rec["name"] == "result.json" and rec["ino"] == os.stat(path).st_ino, rec
        if cmd == "getfd":
            helper = int(out.split()[-1])
            wait_event(
                col, access_to(helper, "pidfd_getfd", agent.proc.pid), "the agent's pull from its helper"
            )
        b, flows = _flows(col, agent)
    got = [f for f in flows if f.kind == "flow" and f.path == path and b.is_agent(f.dst)]
    assert got and got[0].via is not None and got[0].via.kind == "spawn", flows
    if cmd == "getfd":
        l5 = PtraceChannel(None)
        info = AgentInfo(
            agent=1, agent_id="a", root_pid=agent.proc.pid, exe=sys.executable, cmdline=[], start_time_ns=0
        )
        ctx = ChannelContext(agent=1, agent_id="a", info=info, config=EngineConfig(), proc=ProcReader(False))
        alerts = l5.on_events(sorted(col.events, key=lambda e: int(e.get("ts_ns", 0))), ctx)
        assert alerts == [], [(a.code, a.evidence) for a in alerts]
        ignored = l5.status()["own_tree_ignored"]
        assert set(ignored) == {"descendant"} and ignored["descendant"] >= 1, ignored


def _tmpfile_flow(b: CausalGraphBuilder, flows: list[ProcEdge], d: Path) -> list[ProcEdge]:
    """Flows into the agent of an unnamed O_TMPFILE file of ``d`` (its concrete name: d + inode)."""
    prefix = f"{d}/#O_TMPFILE:"
    return [f for f in flows if f.kind == "flow" and f.path.startswith(prefix) and b.is_agent(f.dst)]


@pytest.mark.parametrize(
    "cmd,op",
    [
        ("tmpgetfd", "taken"),
        ("tmpprocfd", "reopened"),
        ("procfd", "reopened"),
    ],
)
def test_unnamed_or_reopened_helper_file_closes_the_loop(
    watched: Any, tmp_path: Path, cmd: str, op: str
) -> None:
    """The helper writes an unnamed O_TMPFILE file (``tmp*``) or result.json and holds it open; the
    agent takes its fd (pidfd_getfd) or opens its magic link /proc/HELPER/fd/N: a loop.

    Red-team round 10's ``l3r10_cycle_otmpfile_procfd`` class, on a dev agent.  Two gaps: the
    helper's O_TMPFILE open carries O_DIRECTORY's bit and was taken as a listing of the directory
    (its file record then named the helper's previous open, so nothing joined); and the agent's
    /proc/PID/fd/N open names only /proc (no flow), while the kernel reported nothing of the file
    it returned.  Now the O_TMPFILE file is a write named by its inode, and the open exit reports
    the file a /proc/PID/fd/N open returned (op ``reopened``).

    In a tmpfs of its own: the vmtest guests' 9p root (pytest's tmp_path there) has no O_TMPFILE
    (session 13's 6.1 guest: both tmp cases failed on it), tmpfs has it on every kernel."""
    _, agent, col = watched
    with small_tmpfs(tmp_path / "fs", "1m") as d:
        out = agent.cmd(f"{cmd} {d}")
        assert out.startswith("read 15 "), out
        helper = int(out.split()[-1])
        rec = wait_event(
            col,
            lambda e: e["type"] == "file" and e["op"] == op and e["pid"] == agent.proc.pid,
            f"{op} file record of the agent",
        )
        opened = wait_event(
            col,
            lambda e: e["type"] == "file" and e["op"] == "opened" and e["pid"] == helper,
            "the helper's writable open",
        )
    assert (rec["dev"], rec["ino"], rec["gen"]) == (opened["dev"], opened["ino"], opened["gen"]), (
        rec,
        opened,
    )
    b, flows = _flows(col, agent)
    if cmd.startswith("tmp"):
        got = _tmpfile_flow(b, flows, d)
        lists = [e for e in col.events if e["type"] == "open" and e["pid"] == helper and e["path"] == str(d)]
        assert lists and lists[0]["flags"] & os.O_TMPFILE == os.O_TMPFILE, lists
    else:
        path = str(d / "result.json")
        got = [f for f in flows if f.kind == "flow" and f.path == path and b.is_agent(f.dst)]
    assert got and got[0].via is not None and got[0].via.kind == "spawn", flows
    assert got[0].src.split(".")[0] == str(helper), got


def test_o_tmpfile_is_a_write_named_by_its_inode_not_a_listing() -> None:
    """Records as the kernel sends them (no BPF): O_TMPFILE is __O_TMPFILE | O_DIRECTORY.  The child's
    open of /w with it creates an unnamed file (a write, no ``list`` of /w), and its file record names
    that file -- not the child's previous, read-only open (/w/input.txt), which an O_DIRECTORY
    ``continue`` left as the thread's last open.  A plain O_DIRECTORY open stays a listing."""
    agent, child = 100, 101
    ino = {"dev": 8, "ino": 77, "gen": 3}
    events = [
        _ev("fork", agent, 1, child=child),
        _ev("exec", child, 2, filename="/usr/bin/tool", interp="", exe_name="tool"),
        _ev("open", child, 3, op="openat", dfd=-100, path="/w/input.txt", flags=os.O_RDONLY),
        _ev("open", child, 4, op="openat", dfd=-100, path="/w", flags=os.O_TMPFILE | os.O_RDWR),
        _ev("file", child, 5, op="opened", fd=3, flags=os.O_RDWR | os.O_TMPFILE, name="#77", **ino),
        _ev("file", agent, 7, op="received", fd=5, flags=os.O_RDONLY, name="#77", **ino),
        _ev("open", agent, 8, op="openat", dfd=-100, path="/w", flags=os.O_RDONLY | os.O_DIRECTORY),
    ]
    b = CausalGraphBuilder(agent, "/usr/bin/python3")
    flows: list[ProcEdge] = []
    edges = b.edges(events, flows)
    got = [f for f in flows if f.kind == "flow"]
    assert [(f.path, f.src.split(".")[0], f.dst.split(".")[0]) for f in got] == [
        ("/w/#O_TMPFILE:8:77:3", "101", "100")
    ], got
    assert ("exe:/usr/bin/tool", "file:/w/*", "write") in edges, edges
    assert ("dir:/w", "exe:/usr/bin/tool", "list") not in edges, edges
    assert ("dir:/w", "exe:/usr/bin/python3", "list") in edges, edges
    assert b.inode_paths[(8, 77, 3)] == "/w/#O_TMPFILE:8:77:3"


@pytest.mark.parametrize("mode", ["symlink", "dirfd"])
def test_a_helpers_file_read_under_another_spelling_closes_the_loop(
    watched: Any, tmp_path: Path, mode: str
) -> None:
    """The helper writes link/out.json (``link`` -> ``real``) or out.json; the agent reads
    real/out.json, or out.json relative to a directory fd: one file, and a loop.

    Red-team round 5's ``l3r5_symlinked_dir_loop`` class (the variant itself forks without exec;
    here the helper is exec'd, as in the rest of this file): L3 compared the paths the opens
    spelled, so the read was of another file, or of no known file at all (a name relative to a
    directory fd).  The open's exit now says the agent opened a file its agent wrote (op
    ``read_written``, by inode); without that record (``reads_by_inode`` off) no flow comes back."""
    _, agent, col = watched
    out = agent.cmd(f"respelled {mode} {tmp_path}")
    assert out.startswith("read 15 "), out
    helper = int(out.split()[-1])
    written = str(tmp_path / "link" / "out.json") if mode == "symlink" else str(tmp_path / "out.json")
    rec = wait_event(
        col,
        lambda e: e["type"] == "file" and e["op"] == "read_written" and e["pid"] == agent.proc.pid,
        "the agent's read of the helper's file",
    )
    assert rec["hook"].startswith("tracepoint/syscalls/sys_exit_open"), rec
    assert rec["name"] == "out.json" and rec["flags"] & 3 == os.O_RDONLY, rec
    assert rec["ino"] == os.stat(written).st_ino, rec
    b, flows = _flows(col, agent)
    assert b.inode_paths.get((rec["dev"], rec["ino"], rec["gen"])) == written
    got = [f for f in flows if f.kind == "flow" and f.path == written and b.is_agent(f.dst)]
    assert got and got[0].via is not None and got[0].via.kind == "spawn", flows
    assert got[0].src.split(".")[0] == str(helper), got
    assert b.respelled_reads >= 1
    off = CausalGraphBuilder(agent.proc.pid, sys.executable)
    off.reads_by_inode = False
    off_flows: list[ProcEdge] = []
    off.edges(sorted(col.events, key=lambda e: int(e.get("ts_ns", 0))), off_flows)
    assert not [f for f in off_flows if f.kind == "flow" and off.is_agent(f.dst)], off_flows


def test_the_agents_own_file_read_under_another_spelling_is_no_flow(watched: Any, tmp_path: Path) -> None:
    """The agent writes link/mine.json and reads real/mine.json: its own file, recognised by inode
    (a ``read_written`` record), and no flow -- one process reading back what it wrote."""
    _, agent, col = watched
    out = agent.cmd(f"respelled own {tmp_path}")
    assert out.startswith("read 15 "), out
    wait_event(
        col,
        lambda e: e["type"] == "file" and e["op"] == "read_written" and e["name"] == "mine.json",
        "the agent's read of its own file",
    )
    _, flows = _flows(col, agent)
    assert not [f for f in flows if f.kind == "flow" and "mine.json" in f.path], flows


def test_a_read_of_a_file_under_the_path_it_was_written_adds_nothing() -> None:
    """Records as the kernel sends them (no BPF): a ``read_written`` record after an open that named
    the written path is the same read again (no second edge, no second flow); after an open that
    named another path it is a read of the written one; for an inode no writable open named, nothing."""
    agent, child = 100, 101
    ino = {"dev": 8, "ino": 77, "gen": 3}
    events = [
        *_tool_wrote(agent, child, "out.json", ino),
        _ev("open", agent, 5, op="openat", dfd=-100, path="/w/out.json", flags=os.O_RDONLY),
        _ev("file", agent, 6, op="read_written", fd=4, flags=os.O_RDONLY, name="out.json", **ino),
    ]
    b = CausalGraphBuilder(agent, "/usr/bin/python3")
    flows: list[ProcEdge] = []
    edges = b.edges(events, flows)
    assert [(f.path, f.kind) for f in flows if f.kind == "flow"] == [("/w/out.json", "flow")], flows
    assert edges.count(("file:/w/*.json", "exe:/usr/bin/python3", "read")) == 1, edges
    assert b.respelled_reads == 0
    again = [
        _ev("open", agent, 7, op="openat", dfd=-100, path="/v/out.json", flags=os.O_RDONLY),
        _ev("file", agent, 8, op="read_written", fd=4, flags=os.O_RDONLY, name="out.json", **ino),
        _ev("open", agent, 9, op="openat", dfd=-100, path="/v/x.json", flags=os.O_RDONLY),
        _ev("file", agent, 10, op="read_written", fd=5, flags=os.O_RDONLY, name="x", dev=8, ino=78, gen=1),
    ]
    more: list[ProcEdge] = []
    b.edges(again, more)
    assert [f.path for f in more if f.kind == "flow"] == ["/w/out.json"], more
    assert b.respelled_reads == 1
