"""Real BPF: a command handed to a runner on NO daemon list is seen by what the runner then execs.

Issue 13 gap 5, red-team round 7 (g5r7_fifo_shell_runner, g5r7_cgi_webshell,
g5r7_mp_manager_rpc): the agent's act names a channel another process reads --
a FIFO it opens for writing, the accepting end of its unix or TCP connect.  The
kernel marks that channel at the act (bpf/h7.bpf.c, recv_mark), marks the
process holding it when that process forks or execs (its fd table), passes the
mark to the children it forks, and reports each exec of a marked process as a
``recv_exec`` record; L2 makes it DAEMON_HANDOFF (``matched_by: receiver-exec``).
The runners here are real processes outside the agent's tree
(tests/agents/recv_runner.py): a FIFO reader, a threaded unix server, a
forking TCP server, a webhook that closes the connection before it runs the command, a broker
that connects for the agent and passes it the socket; the agent is tests/agents/recv_agent.py.  Negative cases
keep the rule honest: a server that only answers, a bystander that execs during
the window without holding the channel, a runner slower than the window.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TIMESCALE
from test_sensor_bpf import Collector
from test_sensor_gaps import Agent as GapAgent
from test_sensor_gaps import watching

from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l2_exec import ExecChannel
from h7.detect.engine import EngineConfig

AGENTS = Path(__file__).resolve().parent / "agents"
WINDOW_NS = int(2e9 * TIMESCALE)


class Agent(GapAgent):
    """tests/agents/recv_agent.py under the sensor: one act per line (test_sensor_gaps' driver)."""

    def __init__(self, sensor: Any) -> None:
        super().__init__(sensor, [sys.executable, str(AGENTS / "recv_agent.py")])

    act = GapAgent.cmd


@pytest.fixture
def watched(sensor: Any) -> Iterator[tuple[Any, Agent, Collector]]:
    """recv_agent.py under the sensor, receivers marked for WINDOW_NS after each act."""
    agent = Agent(sensor)
    try:
        sensor.set_receiver_window(WINDOW_NS)  # a global knob: no matter whether before or after the add
        with watching(sensor, agent.proc.pid) as col:
            yield sensor, agent, col
    finally:
        agent.close()


@contextlib.contextmanager
def runner(mode: str, where: Path, delay: float = 0.0) -> Iterator[subprocess.Popen[bytes]]:
    """A runner started by this test (outside the agent's tree), ready when ``where`` exists;
    its stdin is a pipe this test holds (the ``stdin`` runner reads it)."""
    p = subprocess.Popen(
        [sys.executable, str(AGENTS / "recv_runner.py"), mode, str(where), str(delay)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20 * TIMESCALE
        while not where.exists():
            assert p.poll() is None, f"runner {mode} exited with {p.returncode}"
            assert time.monotonic() < deadline, f"runner {mode} not ready"
            time.sleep(0.05)
        yield p
    finally:
        p.terminate()
        p.wait(timeout=10 * TIMESCALE)


def wait_marker(path: Path) -> None:
    deadline = time.monotonic() + 20 * TIMESCALE
    while not path.exists():
        assert time.monotonic() < deadline, f"the runner never ran the command ({path})"
        time.sleep(0.02)


def recv_execs(col: Collector, marker: Path) -> list[dict[str, Any]]:
    """The receiver execs whose argv names this test's marker (other processes of the host may exec)."""
    evs = [e for _, e in list(col.urgent_at) if e["type"] == "recv_exec"]
    return [e for e in evs if any(str(marker) in a for a in e["args"])]


def wait_recv(col: Collector, marker: Path) -> dict[str, Any]:
    deadline = time.monotonic() + 10 * TIMESCALE
    while not (got := recv_execs(col, marker)):
        assert time.monotonic() < deadline, (
            f"no recv_exec naming {marker}; seen: {[e for _, e in col.urgent_at][-20:]}"
        )
        time.sleep(0.02)
    return got[0]


def settle() -> None:
    """Long enough for a record of an exec that already happened to reach the collector."""
    time.sleep(1.0 * TIMESCALE)


def l2(settings: dict[str, Any] | None = None) -> tuple[ExecChannel, ChannelContext]:
    cfg = EngineConfig.from_dict({"l2": settings or {}})
    ctx = ChannelContext(agent=1, agent_id="a", info=None, config=cfg, proc=ProcReader(True, "/proc"))
    return ExecChannel(cfg), ctx


def check_alert(ev: dict[str, Any], channel: str, receiver: int) -> None:
    ch, ctx = l2()
    alerts = ch.on_events([ev], ctx)
    assert [a.code for a in alerts] == ["DAEMON_HANDOFF"], alerts
    got = alerts[0].evidence
    assert got["matched_by"] == ["receiver-exec"] and got["channel"] == channel, got
    assert got["receiver_pid"] == receiver and got["exec"]["pid"] == ev["pid"], got
    assert got["hook"] == "tp_btf/sched_process_exec", got
    assert 0 <= got["exec_after_act_ms"] < WINDOW_NS / 1e6, got
    assert any(i["class"] == "interpreter" for i in got["exec_identified_as"]), got
    # an expected runner is exempt by its comm
    ch2, ctx2 = l2({"receiver_allow": [ev["receiver_comm"]]})
    assert ch2.on_events([ev], ctx2) == [] and ch2.status()["receiver_allowed"] == 1


@pytest.mark.parametrize("mode", ["fifo", "fifohigh"])
def test_fifo_runner(watched: Any, tmp_path: Path, mode: str) -> None:
    """The agent writes one line into a FIFO a python runner reads and runs with sh -c.

    ``fifohigh``: the runner holds the FIFO at descriptor 300 of a table that once
    held 400 and is now mostly empty, as a long-running daemon's is: the kernel's
    walk of the table goes by its open-descriptor bitmap and must get past the
    empty words to find it.
    """
    _, agent, col = watched
    fifo, marker = tmp_path / "cmd.fifo", tmp_path / "fifo.marker"
    with runner(mode, fifo) as r:
        assert agent.act(f"fifo {fifo} touch {marker}") == "ok"
        wait_marker(marker)
        ev = wait_recv(col, marker)
        assert ev["channel"] == "fifo" and ev["channel_ino"] == os.stat(fifo).st_ino, ev
        assert ev["receiver_pid"] == r.pid and ev["receiver_hops"] == 1, ev
        assert ev["act_pid"] == agent.proc.pid and ev["agent"] == next(iter(watched[0].agents)), ev
        assert ev["filename"] == "/bin/sh" and ev["ppid"] == r.pid, ev
        check_alert(ev, "fifo", r.pid)


def test_pipe_reopened_through_proc_fd_runner(watched: Any, tmp_path: Path) -> None:
    """The agent opens an outsider runner's stdin pipe by /proc/RUNNER/fd/0 for writing and writes
    one line; the runner runs it with sh -c (red-team round 10's class, g5r10_procfd_pipe_into_
    runner_stdin).  sys_enter classifies every /proc/PID/fd/N open; the FIFO mark at the open's
    exit must still be taken (it sat after the classified early return: this test failed then)."""
    _, agent, col = watched
    ready, marker = tmp_path / "stdin.ready", tmp_path / "procfd.marker"
    with runner("stdin", ready) as r:
        pipe_ino = os.stat(f"/proc/{r.pid}/fd/0").st_ino
        assert agent.act(f"fifo /proc/{r.pid}/fd/0 touch {marker}") == "ok"
        wait_marker(marker)
        ev = wait_recv(col, marker)
        assert ev["channel"] == "fifo" and ev["channel_ino"] == pipe_ino, ev
        assert ev["receiver_pid"] == r.pid and ev["receiver_hops"] == 1, ev
        assert ev["act_pid"] == agent.proc.pid and ev["filename"] == "/bin/sh", ev
        check_alert(ev, "fifo", r.pid)


def test_pipe_taken_by_pidfd_getfd_runner(watched: Any, tmp_path: Path) -> None:
    """The agent takes the write end of an outsider runner's stdin pipe from the runner's
    supervisor (this test holds it) with pidfd_getfd and writes one line: no open names the pipe,
    so the mark is taken at pidfd_getfd's exit (red-team round 10's g5r10_pidfd_getfd_runner_pipe
    class); the runner's sh -c is a receiver exec."""
    _, agent, col = watched
    ready, marker = tmp_path / "stdin.ready", tmp_path / "getfd.marker"
    with runner("stdin", ready) as r:
        assert r.stdin is not None
        wfd = r.stdin.fileno()
        pipe_ino = os.fstat(wfd).st_ino
        assert agent.act(f"getfd {os.getpid()}:{wfd} touch {marker}") == "ok"
        wait_marker(marker)
        ev = wait_recv(col, marker)
        assert ev["channel"] == "fifo" and ev["channel_ino"] == pipe_ino, ev
        assert ev["receiver_pid"] == r.pid and ev["act_pid"] == agent.proc.pid, ev
        check_alert(ev, "fifo", r.pid)


def test_reading_a_pipe_through_proc_fd_marks_nothing(watched: Any, tmp_path: Path) -> None:
    """The same reopen for READING (an agent peeking at a runner's stdin) is no hand-off: the runner
    then running a line its own supervisor (this test) wrote is not a receiver exec."""
    _, agent, col = watched
    ready, marker = tmp_path / "stdin.ready", tmp_path / "own.marker"
    with runner("stdin", ready) as r:
        assert agent.act(f"peek /proc/{r.pid}/fd/0 -") == "ok"
        assert r.stdin is not None
        r.stdin.write(f"touch {marker}\n".encode())
        r.stdin.flush()
        wait_marker(marker)
        settle()
        assert recv_execs(col, marker) == []


def test_unix_rpc_worker(watched: Any, tmp_path: Path) -> None:
    """A threaded unix stream server (an RPC worker) runs what the agent sends: found by the peer's pid."""
    _, agent, col = watched
    sock, marker = tmp_path / "w.sock", tmp_path / "unix.marker"
    with runner("unix", sock) as r:
        assert agent.act(f"unix {sock} touch {marker}") == "0"
        ev = wait_recv(col, marker)
        assert ev["channel"] == "unix" and ev["receiver_pid"] == r.pid and ev["receiver_hops"] == 1, ev
        assert ev["act_pid"] == agent.proc.pid, ev
        check_alert(ev, "unix", r.pid)


def test_forking_tcp_server(watched: Any, tmp_path: Path) -> None:
    """A forking TCP server on loopback (one child per connection, as a CGI server): the accepted
    socket marked at ESTABLISHED is found in the acceptor's file table at its fork; the connection's
    child passes the mark to the shell it starts."""
    _, agent, col = watched
    portfile, marker = tmp_path / "tcp.port", tmp_path / "tcp.marker"
    with runner("tcp", portfile) as r:
        assert agent.act(f"tcp {portfile.read_text()} touch {marker}") == "0"
        ev = wait_recv(col, marker)
        assert ev["channel"] == "tcp" and ev["receiver_pid"] == r.pid and ev["receiver_hops"] == 2, ev
        assert ev["act_pid"] == 0 and ev["channel_ino"] > 0, ev  # marked in softirq: no agent pid
        check_alert(ev, "tcp", r.pid)


def test_tcp_runner_that_closes_before_it_runs(watched: Any, tmp_path: Path) -> None:
    """An iterative TCP server (a webhook) replies, CLOSES the connection and only then forks sh
    (red-team round 9's class, g5r9_webhook_close_then_run): the socket is out of its file table
    at the fork, so the mark moves to the process that closed it (tp_btf/inet_sock_set_state at
    FIN_WAIT1/LAST_ACK, in the closing task) for the rest of the window."""
    _, agent, col = watched
    portfile, marker = tmp_path / "hook.port", tmp_path / "close.marker"
    with runner("tcpclose", portfile) as r:
        assert agent.act(f"tcp {portfile.read_text()} touch {marker}") == "0"
        ev = wait_recv(col, marker)
        assert ev["channel"] == "tcp" and ev["receiver_pid"] == r.pid and ev["receiver_hops"] == 1, ev
        assert ev["channel_ino"] > 0 and ev["ppid"] == r.pid, ev
        check_alert(ev, "tcp", r.pid)


@pytest.mark.parametrize("mode", ["tcp", "tcpclose"])
def test_socket_a_broker_connected_and_passed(watched: Any, tmp_path: Path, mode: str) -> None:
    """A broker outside the agent connects to a command runner and passes the connected socket to
    the agent over SCM_RIGHTS (red-team round 9's class, g5r9_broker_passed_cmd_socket): no agent
    connect reached the runner's listener, so the agent's first send on the socket is the act --
    the runner's accepted end is found by 4-tuple (accepted_tuples) and marked, the acting process
    known.  Both a forking runner (the socket in the fork's file table) and one that closes first."""
    _, agent, col = watched
    portfile, brokersock, marker = tmp_path / "run.port", tmp_path / "broker.sock", tmp_path / "passed.marker"
    with runner(mode, portfile) as r, runner("broker", brokersock):
        assert agent.act(f"passed {brokersock},{portfile.read_text()} touch {marker}") == "0"
        ev = wait_recv(col, marker)
        assert ev["channel"] == "tcp" and ev["channel_ino"] > 0, ev
        if mode == "tcpclose":
            assert ev["receiver_pid"] == r.pid and ev["receiver_hops"] == 1, ev
        elif ev["receiver_pid"] == r.pid:  # the send came before the server's accept: the acceptor
            assert ev["receiver_hops"] == 2, ev  # held it at the fork of the connection's child
        else:  # the server forked the connection's child at accept, before the send: that child holds it
            assert ev["receiver_pid"] != agent.proc.pid and ev["ppid"] == ev["receiver_pid"], ev
            assert ev["receiver_hops"] == 1, ev
        assert ev["act_pid"] == agent.proc.pid, ev  # marked at the agent's send: task context
        check_alert(ev, "tcp", ev["receiver_pid"])
        ch, ctx = l2()
        got = ch.on_events([ev], ctx)[0].evidence
        assert got["pid"] == agent.proc.pid and "first send" in got["act_hook"], got


def test_beacon_that_dials_the_agent_and_runs_its_answer(watched: Any, tmp_path: Path) -> None:
    """A runner outside the agent CONNECTS to a listener the agent opened, reads what the agent
    sends on the accepted socket and runs it (red-team round 10's class, the pull model of CI
    runners and C2 beacons): the agent makes no connect, so its first send on the accepted socket
    is the act -- the connecting end is found by 4-tuple (client_tuples, filled at the client's
    SYN_SENT -> ESTABLISHED) and marked; the runner closes the connection, then runs the line."""
    _, agent, col = watched
    ready, marker = tmp_path / "beacon", tmp_path / "beacon.marker"
    with runner("dial", ready) as r:
        assert agent.act(f"serve {ready}.port touch {marker}") == "ok"
        ev = wait_recv(col, marker)
        assert ev["channel"] == "tcp" and ev["channel_ino"] > 0, ev
        assert ev["receiver_pid"] == r.pid and ev["ppid"] == r.pid, ev
        assert ev["act_pid"] == agent.proc.pid, ev  # marked at the agent's send: task context
        check_alert(ev, "tcp", r.pid)


def test_clients_of_an_agent_server_that_do_not_run_it(watched: Any, tmp_path: Path) -> None:
    """The same agent server, dialled by a client outside the agent that only reads the answer
    (a health check, curl, a browser): nothing is reported, though the test process (not the
    client) runs a shell during the window; and the agent dialling its own server (a tool of its
    own, inside its tree) marks nobody."""
    _, agent, col = watched
    ready, marker = tmp_path / "reader", tmp_path / "reader.marker"
    with runner("dialread", ready):
        assert agent.act(f"serve {ready}.port touch {marker}") == "ok"
        log = tmp_path / "reader.log"
        deadline = time.monotonic() + 20 * TIMESCALE
        while not log.exists():
            assert time.monotonic() < deadline, "the reader never got the line"
            time.sleep(0.02)
        subprocess.run(["/bin/sh", "-c", f"touch {marker}"], check=True, timeout=30)
        settle()
        assert recv_execs(col, marker) == []
    own = tmp_path / "own.marker"
    code = (
        "import socket,subprocess,sys,threading\n"
        "srv=socket.socket(); srv.bind(('127.0.0.1',0)); srv.listen(1)\n"
        "def serve():\n"
        "    c,_=srv.accept(); c.sendall(sys.argv[1].encode()+b'\\n'); c.close()\n"
        "t=threading.Thread(target=serve); t.start()\n"
        "with socket.create_connection(srv.getsockname()) as c: line=c.makefile().readline().strip()\n"
        "t.join(); subprocess.run(['/bin/sh','-c',line],check=True)\n"
    )
    script = tmp_path / "own_server.py"
    script.write_text(code)
    assert agent.act(f"make {tmp_path} {sys.executable} {script} 'touch {own}'") == "0"
    assert own.exists()
    settle()
    assert recv_execs(col, own) == []


def test_passed_socket_to_a_server_that_only_answers(watched: Any, tmp_path: Path) -> None:
    """The same passed socket to a server that never runs anything: nothing is reported, though the
    test process (not the channel's holder) runs a shell during the window."""
    _, agent, col = watched
    portfile, brokersock, marker = tmp_path / "echo.port", tmp_path / "broker.sock", tmp_path / "echo.marker"
    with runner("echo", portfile), runner("broker", brokersock):
        assert agent.act(f"passed {brokersock},{portfile.read_text()} touch {marker}") == "0"
        subprocess.run(["/bin/sh", "-c", f"touch {marker}"], check=True, timeout=30)
        settle()
        assert recv_execs(col, marker) == []


def test_job_dropdir_runner(watched: Any, tmp_path: Path) -> None:
    """A polling runner (it globs its directory) runs the job file the agent dropped: no channel names
    it, so the kernel marks the young process that READS an agent-written file (the runner's sh
    opening the job, at the open's exit), and reports what it runs."""
    _, agent, col = watched
    jobs, marker = tmp_path / "jobs", tmp_path / "drop.marker"
    with runner("drop", jobs) as r:
        assert agent.act(f"drop {jobs} touch {marker}") == "ok"
        ev = wait_recv(col, marker)
        assert ev["channel"] == "file" and ev["receiver_comm"] == "sh" and ev["receiver_hops"] == 1, ev
        assert ev["filename"] == "/usr/bin/touch" or ev["exe_name"] == "touch", ev
        # the sh that read the job descends from the runner, and the act is the agent's close of it
        assert ev["receiver_pid"] != r.pid and 0 < ev["act_ts_ns"] <= ev["ts_ns"], ev
        ch, ctx = l2()
        alerts = ch.on_events([ev], ctx)
        assert [a.code for a in alerts] == ["DAEMON_HANDOFF"], alerts
        assert alerts[0].evidence["channel"] == "file", alerts[0].evidence


#: fresh readers test_reader_of_an_agent_file_is_not_its_runner may start: one on the host, three
#: under emulation (H7_TEST_TIMESCALE > 1), where a reader may open the file too late to be young
READER_TRIES = 1 if TIMESCALE <= 1 else 3


def test_reader_of_an_agent_file_is_not_its_runner(watched: Any, tmp_path: Path) -> None:
    """A young process that only READS an agent-written file and runs a program of its own (xargs -a)
    is reported by the kernel (file mark) but is no hand-off: L2 wants a shell or interpreter reading
    it (a script) or the agent's file exec'd itself.

    The kernel marks a reader only if it opens the file within H7_RECV_YOUNG_NS (1 s, fixed in the
    kernel, no test scale reaches it) of its fork.  In a 1-vCPU 6.1 guest (session 12, sensor
    loaded) xargs took 0.33-1.82 s from its fork to its first child, so one reader may be too late:
    under emulation the agent drops a new job and a fresh xargs reads it, up to READER_TRIES times,
    until the kernel reports one.  On the host the first must be reported; a kernel that never
    marks a young reader fails every try."""
    _, agent, col = watched
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    got: list[dict[str, Any]] = []
    for n in range(READER_TRIES):
        marker = tmp_path / f"xargs{n}.marker"
        assert agent.act(f"drop {jobs} {marker}") == "ok"
        # the file holds "#!/bin/sh" and the marker's path: xargs passes both words to touch (the first fails)
        subprocess.run(
            ["xargs", "-a", str(jobs / "nightly.job"), "touch"], check=False, timeout=30, cwd=tmp_path
        )
        assert marker.exists()
        if n == READER_TRIES - 1:
            got = [wait_recv(col, marker)]
            break
        deadline = time.monotonic() + 1.0 * TIMESCALE  # a record of an exec that happened: settle()
        while not (got := recv_execs(col, marker)) and time.monotonic() < deadline:
            time.sleep(0.02)
        if got:
            break
    ev = got[0]
    assert ev["channel"] == "file" and ev["receiver_comm"] == "xargs", ev
    ch, ctx = l2()
    assert ch.on_events([ev], ctx) == [] and ch.status()["receiver_file_readers"] == 1


def _relay_to(jobs: Path, consumer: str) -> None:
    """``cat JOB | (sleep; exec CONSUMER)``, outside the agent: cat (a young reader of the agent's
    file) writes it into a pipe, which the kernel marks as a relay; the consumer starts after that,
    holding the pipe as its stdin (found HELD in its file table, never seen reading it)."""
    script = f"cat '{jobs / 'nightly.job'}' | (sleep {0.4 * TIMESCALE:.2f}; exec {consumer})"
    subprocess.run(["/bin/sh", "-c", script], check=True, timeout=30 * TIMESCALE, cwd=jobs)


def test_a_shell_holding_a_relayed_pipe_with_its_own_command_is_not_its_runner(
    watched: Any, tmp_path: Path
) -> None:
    """Round 11's false class, rebuilt here: a backup job's ``tar -z`` runs ``/bin/sh -c gzip``
    with the pipe of the agent's files as stdin.  That shell holds the agent's data but runs its
    own command; the kernel reports its execs (HELD, comm sh) and L2 certifies none of them.
    The same relay into a shell that reads its program from the pipe is a runner: see below."""
    _, agent, col = watched
    jobs, unused, marker = tmp_path / "jobs", tmp_path / "never.marker", tmp_path / "data.marker"
    jobs.mkdir()
    assert agent.act(f"drop {jobs} touch {unused}") == "ok"
    _relay_to(jobs, f"/bin/sh -c 'wc -c >/dev/null; touch {marker}'")
    assert marker.exists() and not unused.exists()
    wait_recv(col, marker)
    settle()
    evs = recv_execs(col, marker)  # the shell's own exec (its -c names the marker) and touch's
    assert {e["args"][0] for e in evs} == {"/bin/sh", "touch"}, evs
    assert all(e["channel"] == "file" and e["receiver_found"] == "held" for e in evs), evs
    assert all(e["receiver_comm"] == "sh" for e in evs), evs
    ch, ctx = l2()
    assert [a for e in evs for a in ch.on_events([e], ctx)] == []
    assert ch.status()["receiver_held_data"] == len(evs) == ch.status()["receiver_file_readers"]


def test_a_shell_reading_its_program_from_a_relayed_pipe_is_its_runner(watched: Any, tmp_path: Path) -> None:
    """``cat job | sh``: the same relay, but the shell takes its program from the pipe.  Its own exec
    (found holding the pipe: no -c, no script) and the commands it then runs (it read the pipe: a
    reader, relay_pipe) are DAEMON_HANDOFF."""
    _, agent, col = watched
    jobs, marker = tmp_path / "jobs", tmp_path / "run.marker"
    jobs.mkdir()
    assert agent.act(f"drop {jobs} touch {marker}") == "ok"
    _relay_to(jobs, "/bin/sh")
    assert marker.exists()
    ev = wait_recv(col, marker)
    assert ev["channel"] == "file" and ev["receiver_comm"] == "sh", ev
    assert ev["receiver_found"] == "read", ev  # the shell read the pipe: relay_pipe made it a reader
    ch, ctx = l2()
    alerts = ch.on_events([ev], ctx)
    assert [a.code for a in alerts] == ["DAEMON_HANDOFF"], alerts
    assert alerts[0].key == "receiver:file:sh", alerts[0].key
    own = [e for _, e in list(col.urgent_at) if e["type"] == "recv_exec" and e["args"] == ["/bin/sh"]]
    assert own and own[0]["receiver_found"] == "held", own
    ch2, ctx2 = l2()
    got = ch2.on_events([own[0]], ctx2)
    assert [a.code for a in got] == ["DAEMON_HANDOFF"], got
    assert got[0].evidence["program_from"] == "stdin:-", got[0].evidence


def test_build_tool_runs_an_agent_makefile(watched: Any, tmp_path: Path) -> None:
    """An outsider's young make reading a Makefile the agent wrote runs its recipe (red-team round 9's
    g5r9_watcher_make_recipe, held out; this is its class on a make the test starts, as a file watcher
    would): the kernel marks make (file channel), and L2 certifies it as a runner (``file_runners``),
    not as a reader.  The agent's OWN make on its own Makefile is inside the agent: never a receiver."""
    _, agent, col = watched
    proj, own = tmp_path / "proj", tmp_path / "own"
    proj.mkdir()
    own.mkdir()
    marker, own_marker = tmp_path / "make.marker", tmp_path / "own-make.marker"
    assert agent.act(f"makefile {proj} touch {marker}") == "ok"
    subprocess.run(["make", "-s", "-C", str(proj)], check=True, timeout=60, capture_output=True)
    assert marker.exists()
    ev = wait_recv(col, marker)
    assert ev["channel"] == "file" and ev["receiver_comm"] == "make" and ev["receiver_hops"] >= 1, ev
    ch, ctx = l2()
    alerts = ch.on_events([ev], ctx)
    assert [a.code for a in alerts] == ["DAEMON_HANDOFF"], alerts
    assert alerts[0].key == "receiver:file:make" and alerts[0].evidence["receiver_comm"] == "make"
    ch2, ctx2 = l2({"file_runners": []})  # make only as a reader: counted, not certified
    assert ch2.on_events([ev], ctx2) == [] and ch2.status()["receiver_file_readers"] == 1
    assert agent.act(f"make {own} touch {own_marker}") == "0"
    assert own_marker.exists()
    settle()
    assert recv_execs(col, own_marker) == []


def test_not_a_receiver(watched: Any, tmp_path: Path) -> None:
    """Nothing is reported for a server that only answers, for a bystander that execs during the
    window without holding the channel, or for a runner that runs the command after the window."""
    sensor, agent, col = watched
    portfile, sock = tmp_path / "echo.port", tmp_path / "slow.sock"
    bystander, slow = tmp_path / "bystander.marker", tmp_path / "slow.marker"
    with runner("echo", portfile):
        assert agent.act(f"tcp {portfile.read_text()} touch {bystander}") == "0"
        # not the channel's holder: the test process itself runs a shell during the window
        subprocess.run(["/bin/sh", "-c", f"touch {bystander}"], check=True, timeout=30)
        settle()
        assert recv_execs(col, bystander) == []
    sensor.set_receiver_window(int(0.3e9))
    with runner("unix", sock, delay=1.5 * TIMESCALE):
        assert agent.act(f"unix {sock} touch {slow}") == "0"
        assert slow.exists()
        settle()
        assert recv_execs(col, slow) == []
    # and the mechanism is live in this very sensor: the same runner within the window is seen
    sensor.set_receiver_window(WINDOW_NS)
    fast = tmp_path / "fast.marker"
    with runner("unix", tmp_path / "fast.sock"):
        assert agent.act(f"unix {tmp_path / 'fast.sock'} touch {fast}") == "0"
        wait_recv(col, fast)


def test_window_zero_turns_it_off(watched: Any, tmp_path: Path) -> None:
    """receiver_window_s = 0: the kernel marks nothing."""
    sensor, agent, col = watched
    sensor.set_receiver_window(0)
    fifo, marker = tmp_path / "off.fifo", tmp_path / "off.marker"
    with runner("fifo", fifo):
        assert agent.act(f"fifo {fifo} touch {marker}") == "ok"
        wait_marker(marker)
        settle()
        assert recv_execs(col, marker) == []
