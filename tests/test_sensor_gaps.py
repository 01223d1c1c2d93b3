"""Real BPF: acts that never pass connect/sendto/sendmsg/ptrace are still seen (issue 13, gaps 1-3).

Each test runs the act for real against a live agent on loopback and checks
the kernel's event: the destination or target, and the hook that saw it.
On this host the sensor runs in tracepoint mode (cgroup sock_addr hooks and
sys_enter arguments); in the vmtest guests the very same tests run in fentry
mode (socket-layer and ptrace-access-check hooks).  Both modes must pass.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.server
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TIMESCALE
from test_sensor_bpf import Collector

from h7.batch import AgentInfo
from h7.detect.channels.base import PHASE_MONITORING, ChannelContext, ProcReader
from h7.detect.channels.l2_exec import ExecChannel
from h7.detect.channels.l3_causal import CausalChannel, CausalGraphBuilder, ProcEdge
from h7.detect.channels.l4_egress import EgressChannel
from h7.detect.channels.l5_ptrace import MAPS_SWEEP, PtraceChannel
from h7.detect.engine import EngineConfig

ROOT = Path(__file__).resolve().parent.parent
GAP_AGENT = ROOT / "tests" / "agents" / "gap_agent.py"
sys.path.insert(0, str(GAP_AGENT.parent))
import ia32  # noqa: E402  # tests/agents/ia32.py: shared with the agent

NATIVE = ROOT / "tests" / "native"
PTRACE_SEIZE, PTRACE_DETACH = 0x4206, 17
SYS_PIDFD_GETFD = 438

libc = ctypes.CDLL(None, use_errno=True)


class Agent:
    """tests/agents/gap_agent.py under the sensor: one command, one reply."""

    def __init__(self, sensor: Any, argv: list[str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv or [sys.executable, str(GAP_AGENT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.sensor = sensor

    def cmd(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.cmd("exit")
                self.proc.wait(timeout=10 * TIMESCALE)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("native")
    r = subprocess.run(
        ["make", "-s", "-C", str(NATIVE), f"OUT={out}"], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    return out


@contextlib.contextmanager
def watching(sensor: Any, pid: int) -> Iterator[Collector]:
    """The sensor watching ``pid`` as an agent, everything it reports collected; yields the collector.

    Why one helper: every live test here and in the files that borrow this module's agents
    attaches the same way (add the agent, then run the sensor in a collector thread) and must
    stop that thread however the test ends; the collector stays readable after the block.
    """
    sensor.add_agent(pid)
    col = Collector(sensor).start()
    try:
        yield col
    finally:
        col.stop()


@contextlib.contextmanager
def watched_agent(
    sensor: Any, argv: list[str] | None = None, *, greet: str | None = "addr", reply: str | None = None
) -> Iterator[tuple[Any, Agent, Collector]]:
    """An Agent (``argv``, else gap_agent.py) started, then watched; yields (sensor, agent, collector).

    ``greet``, when given, is sent before the agent is added and must get a non-empty answer
    (``reply`` exactly, when given): the agent has started and is idle, so its start-up is not
    what the test sees.  Why one helper: the ``watched`` fixtures of this file,
    test_l3_handback.py and test_l4_filter_change.py were three copies of this.
    """
    agent = Agent(sensor, argv)
    try:
        if greet is not None:
            got = agent.cmd(greet)
            assert got and (reply is None or got == reply), f"agent not ready: {greet!r} -> {got!r}"
        with watching(sensor, agent.proc.pid) as col:
            yield sensor, agent, col
    finally:
        agent.close()


@pytest.fixture
def watched(sensor: Any) -> Iterator[tuple[Any, Agent, Collector]]:
    """gap_agent.py, started and idle, under the sensor."""
    with watched_agent(sensor) as w:
        yield w


@pytest.fixture
def sinks() -> Iterator[tuple[int, socket.socket, socket.socket, socket.socket]]:
    """A TCP listener (accepting in a thread) and two UDP sinks on loopback."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    tcp.settimeout(0.2)
    u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u1.bind(("127.0.0.1", 0))
    u2.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                c, _ = tcp.accept()
                c.settimeout(2)
                with contextlib.suppress(OSError):
                    c.recv(64)
                c.close()
            except OSError:
                continue

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    yield tcp.getsockname()[1], u1, u2, tcp
    stop.set()
    th.join(timeout=5)
    for s in (tcp, u1, u2):
        s.close()


def wait_event(col: Collector, pred: Any, what: str) -> dict[str, Any]:
    e = col.wait_for(pred, timeout=5 * TIMESCALE)
    assert e is not None, (
        f"not seen within {5 * TIMESCALE:.0f} s: {what}\nseen: {[x for _, x in col.urgent_at]}"
    )
    return e


def egress_hooks(sensor: Any) -> tuple[str, ...]:
    mode = sensor.gap_modes["egress"]["mode"]
    if mode == "fentry":
        return ("fentry/inet_stream_connect", "fentry/inet_sendmsg", "fentry/inet6_sendmsg")
    return ("cgroup/connect4", "cgroup/sendmsg4")


def tamper_hook(sensor: Any) -> str:
    if sensor.gap_modes["tampering"]["mode"] == "fentry":
        return "fentry/security_ptrace_access_check"
    return "tp_btf/sys_enter"


URING_HOOK = "tp_btf/io_uring_submit_req"


def net_to(port: int, op: str | None = None) -> Any:
    return lambda e: e["type"] == "net" and e["port"] == port and (op is None or e["op"] == op)


# ------------------------------------------------------------------ gap 1


@pytest.mark.parametrize("where", ["inproc", "child"])
@pytest.mark.parametrize("async_", [0, 1], ids=["inline", "io-wq"])
def test_io_uring_egress(watched: Any, sinks: Any, native: Path, where: str, async_: int) -> None:
    """CONNECT, SEND and an addressed SENDMSG through io_uring, with no connect/sendto syscall.

    ``io-wq`` forces each request into an io_uring worker thread, which the
    fork tracepoint never announced: the sensor must find it by its tgid.
    """
    sensor, agent, col = watched
    tcp_port, u1, _, _ = sinks
    udp_port = u1.getsockname()[1]
    if where == "inproc":
        rc = agent.cmd(f"uring_inproc {native / 'libh7uring.so'} 127.0.0.1 {tcp_port} {udp_port} {async_}")
    else:
        rc = agent.cmd(f"uring_child {native / 'h7uring'} 127.0.0.1 {tcp_port} {udp_port} {async_}")
    assert rc == "0", f"io_uring egress failed in the agent: {rc}"
    assert u1.recv(64).startswith(b"h7-uring")
    hooks = egress_hooks(sensor)
    c = wait_event(col, net_to(tcp_port, "connect"), "io_uring CONNECT")
    d = wait_event(col, net_to(udp_port, "send"), "io_uring SENDMSG to an address")
    for e in (c, d):
        assert e["addr"] == "127.0.0.1" and e["hook"] in hooks and not e["inbound"]
        assert e["agent"] == next(iter(sensor.agents))
    assert (c["protocol"], d["protocol"]) == ("tcp", "udp")  # the socket's, from every egress hook
    if async_:
        # IOSQE_ASYNC: the acts ran in io-wq workers the fork tracepoint never announced
        assert any(e["comm"].startswith("iou-wrk") and e["tid"] != e["pid"] for e in (c, d)), (c, d)
    if sensor.gap_modes["egress"]["mode"] == "fentry":  # the socket layer also sees the TCP SEND
        wait_event(col, lambda e: net_to(tcp_port, "send")(e) and e["from_socket"], "io_uring SEND")


def test_sendmmsg_each_message(watched: Any, sinks: Any) -> None:
    """A first message to one destination must not hide the others of the same sendmmsg."""
    sensor, agent, col = watched
    _, u1, u2, _ = sinks
    p1, p2 = u1.getsockname()[1], u2.getsockname()[1]
    assert agent.cmd(f"sendmmsg 127.0.0.1 {p1} {p2} 5") == "5"
    e1 = wait_event(col, net_to(p1), "sendmmsg message 0")
    e2 = wait_event(col, net_to(p2), "sendmmsg messages 1..4")
    # message 0 may be reported from the syscall's arguments; the rest only the socket layer sees
    assert e2["hook"] in egress_hooks(sensor) and e2["addr"] == "127.0.0.1" and e2["op"] == "sendmmsg"
    assert e1["hook"] in (*egress_hooks(sensor), "tp_btf/sys_enter")
    assert e1["protocol"] == e2["protocol"] == "udp"
    # the in-kernel send counter saw every message, not one per call
    col.stop()
    sends = sum(int(b.stats[a]["sends"]) for b in col.batches for a in b.stats)
    assert sends >= 5


def test_a_send_after_fold_idle_of_silence_is_reported_again(watched: Any, sinks: Any) -> None:
    """A process's sends to one destination: one record while in use, another after a silence.

    The kernel reports a process's first send to a destination and counts the rest (a chatty
    socket costs a lookup, not a record).  With ``set_egress_repeat`` (the pipeline passes
    ``fold_idle``) a send after that much silence is reported again, as a connect always is, so
    the engine certifies a destination that comes back; with 0 it is reported once, ever.
    """
    sensor, agent, col = watched
    _, u1, u2, _ = sinks
    p1, p2 = u1.getsockname()[1], u2.getsockname()[1]
    idle_s = 2.0 * TIMESCALE  # a slow guest's stall between two sends in use must stay under it

    def reports(port: int) -> int:
        return sum(1 for _, e in list(col.urgent_at) if net_to(port)(e))

    def uses(port: int, n: int) -> None:  # n sends 0.25 s apart: in use, never idle
        for _ in range(n):
            assert agent.cmd(f"sendto 127.0.0.1 {port}") == "6"
            time.sleep(0.25)

    try:
        # 0 (the sensor's default): one record per process and destination, whatever the silence
        uses(p2, 3)
        wait_event(col, net_to(p2), "the first send to p2")
        time.sleep(idle_s + 1.5)
        uses(p2, 1)
        sensor.set_egress_repeat(int(idle_s * 1e9))
        uses(p1, 8)  # 2 s in use
        wait_event(col, net_to(p1), "the first send to p1")
        time.sleep(idle_s + 1.5)  # silent for longer than the window (the use is noted to within 1 s)
        uses(p1, 4)
        end = time.monotonic() + 5 * TIMESCALE
        while reports(p1) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.5)  # a third record would be a repeat reported in use
        assert reports(p1) == 2, [e for _, e in col.urgent_at if net_to(p1)(e)]
        assert reports(p2) == 1, [e for _, e in col.urgent_at if net_to(p2)(e)]
    finally:
        sensor.set_egress_repeat(0)
    col.stop()
    sends = sum(int(b.stats[a]["sends"]) for b in col.batches for a in b.stats)
    assert sends >= 16  # every send counted, reported or not


@pytest.mark.parametrize("how", ["send", "write"])
def test_a_sockets_kept_verdict_never_outlives_its_peer_or_its_socket(
    watched: Any, sinks: Any, how: str
) -> None:
    """The kernel keeps what it concluded about a socket's send (send_verdicts) for its repeats.

    Repeats are counted as the first send was, with no record; a UDP socket connected to a new
    peer is judged again at its next send (a record to the new peer, not only the connect); and a
    server that answers one client at a time, each accepted socket taking the descriptor and the
    struct file its predecessor closed, gets one record per connection -- a verdict kept for the
    file alone would hide every reply after the first for a second.
    """
    _, agent, col = watched
    _, u1, u2, _ = sinks
    p1, p2 = u1.getsockname()[1], u2.getsockname()[1]
    n = 20
    assert agent.cmd(f"udp_reconnect {how} {p1} {p2} {n}") == str(8 * n + 8)
    port = int(agent.cmd(f"serve_seq {how} 4"))
    clients = []
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", port), timeout=10 * TIMESCALE) as c:
            clients.append(c.getsockname()[1])
            c.sendall(b"hello")
            assert c.recv(64) == b"h7-reply"
    wait_event(col, lambda e: net_to(p2)(e) and e["op"] != "connect", "the send to the new peer")
    end = time.monotonic() + 5 * TIMESCALE
    while time.monotonic() < end:
        seen = {e["port"] for _, e in list(col.urgent_at) if e["type"] == "net" and e["port"] in clients}
        if len(seen) == len(clients):
            break
        time.sleep(0.05)
    time.sleep(0.5)
    col.stop()
    net = [e for _, e in col.urgent_at if e["type"] == "net"]
    sends1 = [e for e in net if e["port"] == p1 and e["op"] != "connect"]
    assert len(sends1) == 1, sends1  # the first send reported, its repeats counted
    replies = [e for e in net if e["port"] in clients]
    assert sorted(e["port"] for e in replies) == sorted(clients), replies  # one per connection
    assert all(e["inbound"] for e in replies), replies
    sends = sum(int(b.stats[a]["sends"]) for b in col.batches for a in b.stats)
    assert sends >= n + 1  # every send counted (the replies are inbound: not counted)


@pytest.mark.parametrize("how", ["write", "sendfile", "uring", "aio", "pwritev2", "int80write", "int80send"])
def test_write_on_a_socket_received_over_scm_rights(
    watched: Any, sinks: Any, native: Path, tmp_path: Path, how: str
) -> None:
    """A connected socket the agent did not connect, written with write(2), sendfile(2), only an
    io_uring SEND (tracepoint mode: io_uring's submit tracepoint; no syscall names the socket), Linux
    AIO (io_submit: a PWRITE to a file first, the socket's second), pwritev2 at offset -1, or an ia32
    write(2) / socketcall(SYS_SEND) by int $0x80 (tracepoint mode reads i386 numbers for these)."""
    # (before 6.5, sendfile reaches TCP through inet_sendpage, which the fentry egress hooks do not
    # see: there sys_enter reports it in fentry mode too, decided by CO-RE at load)
    _sensor, agent, col = watched
    tcp_port = sinks[0]
    path = str(tmp_path / "fd.sock")
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(path)
    lst.listen(1)
    lst.settimeout(30)
    out = socket.create_connection(("127.0.0.1", tcp_port), timeout=10)

    def give() -> None:
        c, _ = lst.accept()
        with c:
            socket.send_fds(c, [b"x"], [out.fileno()])

    th = threading.Thread(target=give, daemon=True)
    th.start()
    try:
        got = agent.cmd(f"recv_write {path} {how} {native / 'libh7uring.so'}")
        if got == "no-ia32":
            pytest.skip("no ia32 entry (not x86_64, or no IA32 emulation in this kernel)")
        want = {"aio": "2 2 14 14", "pwritev2": "11", "int80write": "12", "int80send": "12"}.get(how, "ok")
        assert got == want, got
        th.join(timeout=10)
        e = wait_event(
            col, lambda e: net_to(tcp_port)(e) and e["op"] in ("write", "send"), "write on a passed socket"
        )
        assert e["from_socket"] and not e["inbound"] and e["addr"] == "127.0.0.1"
        fentry = _sensor.gap_modes["egress"]["mode"] == "fentry"
        if how == "uring":
            assert e["hook"] == ("fentry/inet_sendmsg" if fentry else "tp_btf/io_uring_submit_req"), e
        elif how in ("aio", "pwritev2", "int80write", "int80send"):
            tp = "tracepoint/syscalls/sys_exit_io_submit" if how == "aio" else "tp_btf/sys_enter"
            assert e["hook"] == ("fentry/inet_sendmsg" if fentry else tp), e
    finally:
        out.close()
        lst.close()


def link_hooks(sensor: Any, how: str) -> tuple[str, ...]:
    if sensor.gap_modes["link_egress"]["mode"] == "fentry":
        return ("fentry/packet_sendmsg",)
    return ("tp_btf/io_uring_submit_req",) if how == "uring" else ("tp_btf/sys_enter",)


@pytest.mark.parametrize(("kind", "how"), [("raw", "sendto"), ("dgram", "sendto"), ("raw", "uring")])
def test_packet_socket_send_is_link_egress(watched: Any, native: Path, kind: str, how: str) -> None:
    """A frame handed to a link on an AF_PACKET socket (loopback here) is egress to that link.

    No inet socket, connect or cgroup hook is involved (red-team round 4's
    g1r4_packet_socket_udp): fentry mode sees packet_sendmsg, tracepoint mode
    the send syscall's socket or the io_uring SEND at its submit tracepoint.
    """
    sensor, agent, col = watched
    n = agent.cmd(f"packet lo {kind} {how} {native / 'libh7uring.so'}")
    assert n.isdigit() and int(n) > 0, f"AF_PACKET send failed in the agent: {n}"
    lo = socket.if_nametoindex("lo")
    e = wait_event(col, lambda e: e["type"] == "net" and e["family"] == "packet", f"AF_PACKET {kind} {how}")
    assert e["addr"] == f"ifindex:{lo}" and e["port"] == 0x88B5 and not e["inbound"], e
    assert e["hook"] in link_hooks(sensor, how), e
    assert e["agent"] == next(iter(sensor.agents)) and e["pid"] == agent.proc.pid


class OkSite(http.server.BaseHTTPRequestHandler):
    """A site outside the agent that answers every GET with "ok" (the L4 tests' peer)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_replies_on_accepted_connections_are_not_egress(watched: Any) -> None:
    """An in-process HTTP server's replies are inbound; the agent's own fetches are egress."""
    _, agent, col = watched
    port = int(agent.cmd("serve"))

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OkSite)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        client_ports = []
        for _ in range(5):  # five clients, five ephemeral ports
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                client_ports.append(c.getsockname()[1])
                c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                while c.recv(4096):
                    pass
        assert agent.cmd(f"get {site.server_address[1]}") == "200"
        out = wait_event(col, net_to(site.server_address[1], "connect"), "the agent's own fetch")
        assert not out["inbound"]
        time.sleep(0.5 * TIMESCALE)
    finally:
        site.shutdown()
        site.server_close()
    col.stop()
    evs = [e for e in col.events if e["type"] == "net"]
    replies = [e for e in evs if e["port"] in client_ports or (e["inbound"] and e["addr"] == "127.0.0.1")]
    assert replies, "the server's replies were not seen at all"
    assert all(e["inbound"] for e in replies), (
        f"a reply on an accepted connection looked like egress: {replies}"
    )
    assert not [e for e in evs if not e["inbound"] and e["port"] in client_ports]
    # clients outside the agent on loopback: one event per connection (L4 may find one in the agent's
    # own tree, which must not hide the next), never one per send
    assert len({(e["op"], e["port"]) for e in replies}) == len(replies) <= len(client_ports)


def test_accepted_connections_tell_the_agents_own_connect_from_an_outside_client(watched: Any) -> None:
    """Red-team round 7's accept-side pull: the agent's data leaves on a socket it ACCEPTED.

    The kernel matches each accepted connection with the connects the same
    agent made (4-tuple, at ESTABLISHED): the reply to the agent's own fetch
    of its in-process server is ``peer_own`` (inside the agent, not egress),
    the reply to a client outside the agent (this test process) is not, and
    L4 certifies that one by the peer's address.
    """
    _, agent, col = watched
    port = int(agent.cmd("serve"))
    assert agent.cmd(f"get {port}") == "200"  # the agent's own tool fetches its own server
    own = wait_event(col, lambda e: e["type"] == "net" and e.get("peer_own") is True, "the own reply")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:  # a collector connects in
        c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        while c.recv(4096):
            pass
    out = wait_event(col, lambda e: e["type"] == "net" and e.get("peer_own") is False, "the client's reply")
    for e in (own, out):
        assert e["inbound"] and e["addr"] == "127.0.0.1" and e["pid"] == agent.proc.pid, e
        assert e["lport"] == port, e  # the agent's listener, whatever the client's port
    col.stop()
    l4 = EgressChannel(EngineConfig())
    ctx = ChannelContext(agent=1, agent_id="a", info=None, config=EngineConfig())
    l4.finish_baseline(ctx)
    ctx.phase = PHASE_MONITORING
    alerts = l4.on_events([e for e in col.events if e["type"] == "net" and e.get("inbound")], ctx)
    assert [(a.code, a.evidence["direction"], a.evidence["addr"]) for a in alerts] == [
        ("UNKNOWN_DESTINATION", "inbound", "127.0.0.1")
    ]


def test_a_connection_to_its_own_server_opened_before_attach_is_found_in_proc(sensor: Any) -> None:
    """The kernel never saw this connect (the sensor attached after it): the reply comes as
    from an outside client, and L4 finds the client socket in the agent's own tree instead."""
    agent = Agent(sensor)
    try:
        port = int(agent.cmd("serve"))
        assert agent.cmd(f"keep {port}") == "ok"  # a keep-alive pool's connection, before attach
        with watching(sensor, agent.proc.pid) as col:
            assert int(agent.cmd("ask")) > 0
            e = wait_event(
                col,
                lambda e: e["type"] == "net" and e.get("peer_own") is False,
                "the reply on the old connection",
            )
        assert e["lport"] == port and e["addr"] == "127.0.0.1", e
        cfg = EngineConfig()
        info = AgentInfo(agent=1, agent_id="a", root_pid=agent.proc.pid, exe="", cmdline=[], start_time_ns=0)
        ctx = ChannelContext(agent=1, agent_id="a", info=info, config=cfg, proc=ProcReader(True, "/proc"))
        l4 = EgressChannel(cfg)
        l4.finish_baseline(ctx)
        ctx.phase = PHASE_MONITORING
        assert l4.on_events([e], ctx) == []  # live: the client socket is the agent's (still held)
        assert l4.status()["inbound_own_found_in_proc"] == 1
        replay = ChannelContext(agent=1, agent_id="a", info=info, config=cfg, proc=ProcReader(False, "/proc"))
        replay.phase = PHASE_MONITORING
        assert len(l4.on_events([e], replay)) == 1  # without /proc (a replay): judged, documented
    finally:
        agent.close()


@pytest.mark.parametrize("how", ["sendto", "sendmsg", "write", "hdrincl_opt"])
def test_raw_ip_hdrincl_is_judged_by_its_own_header(watched: Any, how: str) -> None:
    """Red-team round 7's raw-IP spoof: the sockaddr names an allowed route, the header another host.

    sys_enter reads the hand-built header (both modes); fentry mode reports a
    write(2) on such a socket with the unspecified address (fail closed: its
    socket-layer hook does not read user buffers).
    """
    sensor, agent, col = watched
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.7.41", 0))
        sink.settimeout(5 * TIMESCALE)
        dport = sink.getsockname()[1]
        sent = agent.cmd(f"rawip 127.0.0.1 8080 127.0.7.41 {dport} {how}")
        assert int(sent) == 42, sent  # 20 IP + 8 UDP + 14 payload
        assert sink.recv(64) == b"h7-raw-hdrincl"  # delivered where the header said
    fentry_write = how == "write" and sensor.gap_modes["egress"]["mode"] == "fentry"
    want = ("0.0.0.0", 0) if fentry_write else ("127.0.7.41", dport)
    e = wait_event(
        col, lambda e: e["type"] == "net" and e.get("ip_header") and (e["addr"], e["port"]) == want, "header"
    )
    assert e["pid"] == agent.proc.pid and not e["inbound"] and e["protocol"] == "raw", e
    col.stop()
    # the route (the sockaddr, allowed) never stands for a send's destination on such a socket
    # (fentry mode reports write's connect() to it, as it reports every inet connect)
    routed = [
        x
        for x in col.events
        if x["type"] == "net" and (x["addr"], x["port"]) == ("127.0.0.1", 8080) and x["op"] != "connect"
    ]
    assert not routed, routed
    # the route allowed for every protocol (a bare entry is TCP only; a raw packet is "raw")
    l4 = EgressChannel(EngineConfig(channel_settings={"L4": {"allow": ["any:127.0.0.1"]}}))
    ctx = ChannelContext(agent=1, agent_id="a", info=None, config=EngineConfig())
    l4.finish_baseline(ctx)
    ctx.phase = PHASE_MONITORING
    alerts = l4.on_events([x for x in col.events if x["type"] == "net"], ctx)
    assert {a.evidence["addr"] for a in alerts} == {want[0]} and all(a.evidence["ip_header"] for a in alerts)


# ------------------------------------------------------------------ gap 2


def agent_buf(agent: Agent) -> tuple[int, int, int]:
    addr, fd, pid = (int(x) for x in agent.cmd("addr").split())
    return addr, fd, pid


def test_process_vm_writev(watched: Any) -> None:
    sensor, agent, col = watched
    addr, _, pid = agent_buf(agent)

    class IoVec(ctypes.Structure):
        _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]

    data = ctypes.create_string_buffer(b"h7-tampered!", 12)
    local = IoVec(ctypes.addressof(data), 12)
    remote = IoVec(addr, 12)
    n = libc.process_vm_writev(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    assert n == 12, os.strerror(ctypes.get_errno())
    assert agent.cmd("read") == "h7-tampered!"
    e = wait_event(
        col, lambda e: e["type"] == "access" and e["op"] == "process_vm_writev", "process_vm_writev"
    )
    assert e["target_pid"] == pid and e["pid"] == os.getpid() and e["hook"] == tamper_hook(sensor)


def test_proc_mem_write_absolute_and_relative(watched: Any) -> None:
    sensor, agent, col = watched
    addr, _, pid = agent_buf(agent)
    fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
    try:
        assert os.pwrite(fd, b"h7-via-mem!!", addr) == 12
    finally:
        os.close(fd)
    assert agent.cmd("read") == "h7-via-mem!!"
    e = wait_event(col, lambda e: e["type"] == "access" and e["op"] == "proc_mem_open", "/proc/<pid>/mem")
    assert e["target_pid"] == pid and e["hook"] == tamper_hook(sensor)
    col.urgent_at.clear()
    # relative to a directory fd of /proc/<pid>: no path names the pid
    dfd = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.close(os.open("mem", os.O_RDONLY, dir_fd=dfd))
        os.close(os.open("maps", os.O_RDONLY, dir_fd=dfd))
    finally:
        os.close(dfd)
    e = wait_event(
        col, lambda e: e["type"] == "access" and e["op"] == "proc_mem_open", "mem relative to a dfd"
    )
    assert e["target_pid"] == pid
    m = wait_event(
        col, lambda e: e["type"] == "access" and e["op"] == "proc_maps_open", "maps relative to a dfd"
    )
    assert m["target_pid"] == pid and m["hook"] == "tp_btf/sys_enter"


def access_to(pid: int, op: str, caller: int | None = None) -> Any:
    """An access event of kind ``op`` on target ``pid`` (by ``caller`` if given): a wait_event predicate."""
    return lambda e: (
        e["type"] == "access"
        and e["op"] == op
        and e["target_pid"] == pid
        and (caller is None or e["pid"] == caller)
    )


# (directory or None for absolute, path); {pid} is the agent's pid (and its main thread's tid)
SPELLINGS = [
    (None, "//proc//{pid}///mem"),
    (None, "/proc/./{pid}/./mem"),
    (None, "/proc/1/../{pid}/mem"),
    (None, "/proc/self/root/proc/{pid}/mem"),
    (None, "/proc/self/../{pid}/mem"),
    ("/proc", "{pid}/mem"),
    ("/proc", "./{pid}//mem"),
    ("/proc/{pid}", "task/{pid}/mem"),
    ("/proc/{pid}/task", "{pid}/mem"),
    ("cwd:/proc", "{pid}/mem"),
]


@pytest.mark.parametrize(("d", "path"), SPELLINGS, ids=[f"{d or ''}|{p}" for d, p in SPELLINGS])
def test_proc_mem_path_spellings(watched: Any, d: str | None, path: str) -> None:
    """Spellings the kernel accepts for /proc/<pid>/mem name the agent (red-team round 3 and beyond).

    Extra slashes, "." and ".." segments, a path relative to /proc itself (dirfd or cwd), a
    /proc/<pid>/task directory, the caller's own root link: the open is the agent's mem.
    """
    sensor, agent, col = watched
    _, _, pid = agent_buf(agent)
    rel = path.format(pid=pid)
    if d is None:
        os.close(os.open(rel, os.O_RDONLY))
    elif d.startswith("cwd:"):  # in a child: the test's own cwd stays
        code = f"import os; os.chdir({d[4:]!r}); os.close(os.open({rel!r}, os.O_RDONLY))"
        subprocess.run([sys.executable, "-c", code], check=True, timeout=30 * TIMESCALE)
    else:
        dfd = os.open(d.format(pid=pid), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.close(os.open(rel, os.O_RDONLY, dir_fd=dfd))
        finally:
            os.close(dfd)
    e = wait_event(col, access_to(pid, "proc_mem_open"), f"{rel} relative to {d}")
    assert e["hook"] == tamper_hook(sensor), e


def test_pidfd_getfd_steals_a_socket(watched: Any) -> None:
    sensor, agent, col = watched
    _, fd, pid = agent_buf(agent)
    pidfd = os.pidfd_open(pid)
    try:
        stolen = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        assert stolen >= 0, os.strerror(ctypes.get_errno())
        os.close(stolen)
    finally:
        os.close(pidfd)
    e = wait_event(col, lambda e: e["type"] == "access" and e["op"] == "pidfd_getfd", "pidfd_getfd")
    assert e["target_pid"] == pid and e["arg_fd"] == fd and e["hook"] == tamper_hook(sensor)


def test_pidfd_getfd_through_the_ia32_entry(watched: Any) -> None:
    """pidfd_getfd by int $0x80 (ia32 438, the x86_64 number too) reads its pidfd from bx, not di
    (red-team round 10's g2r10_int80_pidfd_getfd: the 64-bit registers resolved no pidfd)."""
    sensor, agent, col = watched
    _, fd, pid = agent_buf(agent)
    call = int80()
    pidfd = os.pidfd_open(pid)
    try:
        stolen = call(438, pidfd, fd, 0, 0, 0)
        assert stolen >= 0, os.strerror(-stolen)
        assert stat.S_ISSOCK(os.fstat(stolen).st_mode)
        os.close(stolen)
    finally:
        os.close(pidfd)
    e = wait_event(col, access_to(pid, "pidfd_getfd", os.getpid()), "ia32 pidfd_getfd")
    assert e["arg_fd"] == fd and e["hook"] == tamper_hook(sensor), e
    if e["hook"] == "tp_btf/sys_enter":
        assert e["nr"] == 438 and e["arg_pid"] == pidfd, e


def _mem_rw(pid: int, write: int) -> Any:
    return lambda e: (
        e["type"] == "access" and e["op"] == "proc_mem_rw" and e["target_pid"] == pid and e["mode"] == write
    )


def mem_use_hook(sensor: Any) -> str:
    """The hook that reports the use of a mem fd: fentry/mem_rw, else sys_enter (held fds only)."""
    return "fentry/mem_rw" if sensor.gap_modes["mem_fd_use"]["mode"] == "fentry" else "tp_btf/sys_enter"


def _held(pid: int, fd: int) -> Any:
    return lambda e: (
        e["type"] == "access" and e["op"] == "proc_mem_held" and e["target_pid"] == pid and e["arg_fd"] == fd
    )


def test_proc_mem_fd_opened_before_attach_is_seen_when_used(sensor: Any) -> None:
    """A /proc/<pid>/mem fd opened BEFORE the agent was watched, written and read after.

    Red-team round 8's ``g2r8_preattach_mem_fd``: the access check ran at the open, when the
    agent was nobody's, and the later pwrite passes no check and names no path.  Both modes: the
    attach-time /proc scan reports the holder (op proc_mem_held, fd and flags); the use is one
    proc_mem_rw record per file and direction per second however many calls, from fentry/mem_rw
    (the file's procfs inode names the task) or, in tracepoint mode, from sys_enter on the fd the
    scan registered (held, the fd and the call named).  Without the scan or the hook: nothing.
    """
    agent = Agent(sensor)
    try:
        addr, _, pid = agent_buf(agent)
        fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)  # not watched yet: its access check names no agent
        try:
            with watching(sensor, pid) as col:
                h = wait_event(col, _held(pid, fd), "the attach-time scan finding the mem fd")
                assert h["pid"] == os.getpid() and h["hook"] == "attach scan (/proc/*/fd)", h
                assert h["mode"] & 0o3 == os.O_RDWR, h
                for _ in range(20):
                    assert os.pwrite(fd, b"h7-preattach", addr) == 12
                assert agent.cmd("read") == "h7-preattach"
                w = wait_event(col, _mem_rw(pid, 1), "write through a pre-attach mem fd")
                assert w["pid"] == os.getpid() and w["hook"] == mem_use_hook(sensor), w
                if w["hook"] == "tp_btf/sys_enter":
                    assert w.get("held") and w["arg_fd"] == fd and w["nr"] == 18, w  # pwrite64
                assert os.pread(fd, 12, addr) == b"h7-preattach"
                r = wait_event(col, _mem_rw(pid, 0), "read through a pre-attach mem fd")
                assert r["pid"] == os.getpid(), r
                seen = [e for _, e in col.urgent_at if e["type"] == "access"]
                # 20 writes within the second: one record; and no open record (it was before)
                assert sum(1 for e in seen if _mem_rw(pid, 1)(e)) == 1, seen
                assert sum(1 for e in seen if _held(pid, fd)(e)) == 1, seen
                assert not [e for e in seen if e["op"] == "proc_mem_open"], seen
        finally:
            os.close(fd)
    finally:
        agent.close()


def test_pre_attach_mem_fd_dup_and_fork_of_its_holder_are_seen(sensor: Any) -> None:
    """The held file, not the fd number: a dup of the fd, and a child forked by the holder, are seen.

    Tracepoint mode registers the FILE (its procfs inode) and the holder's tgid, and the kernel's
    fork hook makes a holder's child a holder (its fd table is a copy); fentry/mem_rw sees any use.
    The same file is reported once per direction per second (one struct file behind both fds), so
    the acts are 1.1 s apart.  When the agent is retired its file leaves the kernel's maps.
    """
    agent = Agent(sensor)
    try:
        addr, _, pid = agent_buf(agent)
        fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
        try:
            prev = sensor.held_files
            with watching(sensor, pid) as col:  # run() never retires: held_files is add_agent's alone
                registered = 0 if sensor.gap_modes["mem_fd_use"]["mode"] == "fentry" else 1
                assert sensor.held_files == prev + registered
                wait_event(col, _held(pid, fd), "the attach-time scan finding the mem fd")
                fd2 = os.dup(fd)
                try:
                    assert os.pwrite(fd2, b"h7-dup-write", addr) == 12
                    d = wait_event(col, _mem_rw(pid, 1), "write through a dup of a pre-attach mem fd")
                    assert d["pid"] == os.getpid() and d["hook"] == mem_use_hook(sensor), d
                    if d["hook"] == "tp_btf/sys_enter":
                        assert d["arg_fd"] == fd2, d
                finally:
                    os.close(fd2)
                time.sleep(1.1)  # past the per-file, per-direction second
                child = os.fork()
                if child == 0:  # the holder's child: same file, its own tgid
                    code = 0 if os.pread(fd, 12, addr) == b"h7-dup-write" else 3
                    os._exit(code)
                _, status = os.waitpid(child, 0)
                assert os.waitstatus_to_exitcode(status) == 0
                c = wait_event(
                    col,
                    lambda e: _mem_rw(pid, 0)(e) and e["pid"] == child,
                    "read by the holder's forked child",
                )
                assert c["hook"] == mem_use_hook(sensor), c
        finally:
            os.close(fd)
    finally:
        agent.close()
    # the agent gone and retired: its held file leaves the kernel and the read-family gate shuts
    slot = next(a for a, st in sensor.agents.items() if st.info.root_pid == pid)
    deadline = time.monotonic() + 5 * TIMESCALE
    while time.monotonic() < deadline and sensor.agents[slot].live:
        sensor.poll(0.1)
    assert not sensor.agents[slot].live, "the agent's exit was not seen"
    sensor.retire_dead(after_batches=1)
    assert slot not in sensor.agents and not sensor._held.get(slot) and sensor.held_files == prev
    on = sensor.obj.map("held_on").lookup((0).to_bytes(4, "little"))
    assert on == sensor.held_files.to_bytes(4, "little"), (on, sensor.held_files)


def test_proc_mem_and_maps_opened_through_io_uring(watched: Any, native: Path) -> None:
    """An io_uring OPENAT of /proc/PID/mem (and maps) by anyone: no open syscall carries the path.

    Tracepoint mode reads the kernel's copy of the filename at io_uring's submit
    tracepoint (red-team round 4's g2r4_uring_openat_procmem); fentry mode's
    access check sees the mem open whatever issued it.
    """
    sensor, agent, col = watched
    _, _, pid = agent_buf(agent)
    lib = ctypes.CDLL(str(native / "libh7uring.so"))
    for name in ("mem", "maps"):
        fd = lib.h7_uring_open(f"/proc/{pid}/{name}".encode(), os.O_RDONLY)
        assert fd >= 0, f"io_uring OPENAT of /proc/{pid}/{name}: {os.strerror(-fd)}"
        os.close(fd)
    if sensor.gap_modes["tampering"]["mode"] == "fentry":
        # the access check: named from the caller's syscall (openat) when the ring opens inline, an
        # attach-level check with the fs credentials (mode & PTRACE_MODE_FSCREDS) when an io-wq worker
        # runs the open (6.1 does for /proc): no syscall to name it by
        m = wait_event(
            col,
            lambda e: e["type"] == "access" and (e["op"] == "proc_mem_open" or e["op"] == "attach_check"),
            "io_uring mem open (access check)",
        )
        assert m["op"] == "proc_mem_open" or (m["mode"] & 0x0A) == 0x0A, m
        assert m["hook"] == tamper_hook(sensor), m
    else:
        m = wait_event(
            col, lambda e: e["type"] == "access" and e["op"] == "proc_mem_open", "io_uring mem open"
        )
        assert m["hook"] == URING_HOOK, m
    assert m["target_pid"] == pid and m["pid"] == os.getpid(), m
    p = wait_event(col, lambda e: e["type"] == "access" and e["op"] == "proc_maps_open", "io_uring maps open")
    assert p["target_pid"] == pid and p["pid"] == os.getpid() and p["hook"] == URING_HOOK, p


def environ_hook(sensor: Any) -> str:
    if sensor.gap_modes["environ"]["mode"] == "fentry":
        return "fentry/environ_open"
    return "tp_btf/sys_enter"


def test_environ_targeted_read_and_a_ps_sweep(watched: Any) -> None:
    """A process reading the agent's environ alone has sweep 0; procps `ps -ef` reaches it mid-sweep.

    ps opens every process's environ in pid order (procps 4 on Debian 12), so by the agent's
    (recent, high) pid it has opened many others': L5 tells the two apart by that count.
    """
    sensor, agent, col = watched
    _, _, pid = agent_buf(agent)
    code = f"import sys; sys.stdout.write(str(len(open('/proc/{pid}/environ', 'rb').read())))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) > 0
    e = wait_event(col, lambda e: e["type"] == "access" and e["op"] == "proc_environ_open", "environ read")
    assert e["target_pid"] == pid and e["sweep"] == 0 and e["hook"] == environ_hook(sensor), e
    col.urgent_at.clear()
    ps = subprocess.run(["ps", "-ef"], capture_output=True, text=True, check=True)
    assert str(pid) in ps.stdout
    e = wait_event(
        col,
        lambda e: e["type"] == "access" and e["op"] == "proc_environ_open" and e["comm"] == "ps",
        "ps -ef opening the agent's environ",
    )
    assert e["target_pid"] == pid and e["sweep"] >= 2, e


# /proc/<pid>/maps sweeps: `perf record -a` and continuous profilers open the maps of every process on
# the host, the agent's among them (two live L5 false alerts in session 6's evaluation).  The kernel
# counts, per caller, the other processes' maps it opened in the run just before (``sweep``, as for
# environ); the kernel's own event is handed to L5: a sweep is not certified, a targeted read is, and
# a sweep never covers a /proc/<pid>/mem open nor is made of environ opens.

#: other processes opened before the agent: a handful, as any host's /proc listing has more
OTHERS = 6

OPENER = r"""
import os, sys
kind, tail, *pids = sys.argv[1:]
for p in pids:
    with open(f"/proc/{p}/{kind}", "rb") as f:
        f.read(64)
fd = os.open(tail, os.O_RDONLY)
os.read(fd, 64) if tail.endswith("maps") else None
os.close(fd)
"""


@pytest.fixture
def others() -> Iterator[list[int]]:
    procs = [subprocess.Popen(["sleep", str(int(60 * TIMESCALE))]) for _ in range(OTHERS)]
    try:
        yield sorted(p.pid for p in procs)
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _run(kind: str, tail: str, pids: list[int]) -> int:
    """Run the opener; returns its pid (the caller the kernel names)."""
    p = subprocess.Popen(
        [sys.executable, "-c", OPENER, kind, tail, *map(str, pids)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _, err = p.communicate(timeout=30 * TIMESCALE)
    assert p.returncode == 0, err
    return p.pid


def l5_certified(ev: dict[str, Any]) -> list[Any]:
    """What L5 alone certifies of one kernel event (no engine: the channel's own verdict)."""
    ch = PtraceChannel(None)
    ctx = ChannelContext(agent=1, agent_id="a", info=None, config=EngineConfig())
    return ch.on_events([ev], ctx)


def test_maps_sweep_is_not_certified_a_targeted_read_is(watched: Any, others: list[int]) -> None:
    _, agent, col = watched
    _, _, pid = agent_buf(agent)
    maps = f"/proc/{pid}/maps"

    lone = _run("maps", maps, [])
    e = wait_event(col, lambda e: e["type"] == "access" and e["pid"] == lone, "targeted maps read")
    assert e["op"] == "proc_maps_open" and e["target_pid"] == pid and e["sweep"] == 0, e
    alerts = l5_certified(e)
    assert [a.code for a in alerts] == ["PROCESS_MEMORY_ACCESS"]
    assert alerts[0].evidence["act"] == "proc_maps_open" and alerts[0].evidence["sweep"] == 0

    sweeper = _run("maps", maps, others)
    e = wait_event(col, lambda e: e["type"] == "access" and e["pid"] == sweeper, "maps sweep")
    assert e["op"] == "proc_maps_open" and e["target_pid"] == pid and e["sweep"] == OTHERS, e
    assert OTHERS >= MAPS_SWEEP and l5_certified(e) == []

    # environ opens are not maps opens: no sweep for the maps read that follows them
    mixed = _run("environ", maps, others)
    e = wait_event(col, lambda e: e["type"] == "access" and e["pid"] == mixed, "maps after environ")
    assert e["op"] == "proc_maps_open" and e["sweep"] == 0 and l5_certified(e), e


def test_maps_sweep_never_covers_a_mem_open(watched: Any, others: list[int]) -> None:
    sensor, agent, col = watched
    _, _, pid = agent_buf(agent)
    caller = _run("maps", f"/proc/{pid}/mem", [*others, pid])
    e = wait_event(
        col, lambda e: e["type"] == "access" and e["pid"] == caller and e["op"] == "proc_mem_open", "mem open"
    )
    assert e["target_pid"] == pid and e["hook"] == tamper_hook(sensor), e
    assert [a.code for a in l5_certified(e)] == ["PROCESS_MEMORY_ACCESS"]
    m = wait_event(
        col,
        lambda e: e["type"] == "access" and e["pid"] == caller and e["op"] == "proc_maps_open",
        "maps open",
    )
    assert m["target_pid"] == pid and m["sweep"] == OTHERS and l5_certified(m) == [], m
    assert len([x for _, x in col.urgent_at if x["type"] == "access" and x["pid"] == caller]) == 2


def test_nothing_from_unwatched_targets(watched: Any) -> None:
    """The same acts on an unwatched process produce no event (scope is the target)."""
    _, _, col = watched
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.readline()"], stdin=subprocess.PIPE
    )
    try:
        os.close(os.open(f"/proc/{other.pid}/maps", os.O_RDONLY))
        os.close(os.open(f"/proc/{other.pid}/mem", os.O_RDONLY))
        os.close(os.open(f"/proc/{other.pid}/environ", os.O_RDONLY))
        time.sleep(0.5 * TIMESCALE)
    finally:
        other.kill()
        other.wait()
    col.stop()
    assert not [e for e in col.events if e["type"] == "access"]


# ------------------------------------------------------------------ gap 3

NS_ATTACKER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
release_r, release_w = os.pipe()
fork_r, fork_w = os.pipe()
ready_r, ready_w = os.pipe()
child = os.fork()
if child == 0:                       # the agent: pid 2 in this namespace
    print(os.readlink("/proc/self"), os.getpid(), flush=True)  # host pid (host /proc), ns pid
    os.read(fork_r, 1)               # forked AFTER attach: the kernel registers its namespace pid
    g = os.fork()
    if g == 0:
        os.write(ready_w, str(os.getpid()).encode())
        os.read(release_r, 1)
        os._exit(0)
    os.read(release_r, 1)
    os.waitpid(g, 0)
    os._exit(0)
sys.stdin.readline()                 # the test has attached the agent
os.write(fork_w, b"f")
grandchild = int(os.read(ready_r, 16))
ok = libc.ptrace(0x4206, child, None, None)      # SEIZE by the namespace-local pid
libc.ptrace(17, child, None, None)
buf = ctypes.create_string_buffer(8)
class V(ctypes.Structure):
    _fields_ = [("b", ctypes.c_void_p), ("n", ctypes.c_size_t)]
loc = V(ctypes.addressof(buf), 8)
rem = V(0x10000, 8)                  # any address: the act is what counts
libc.process_vm_readv(child, ctypes.byref(loc), 1, ctypes.byref(rem), 1, 0)
libc.process_vm_readv(grandchild, ctypes.byref(loc), 1, ctypes.byref(rem), 1, 0)
print("done", ok, 0, grandchild, flush=True)
sys.stdin.readline()
os.write(release_w, b"xx")
os.waitpid(child, 0)
"""


def test_ptrace_inside_a_pid_namespace(sensor: Any) -> None:
    """A ptrace named with a pid of the agent's own namespace is matched to the agent, not host pid 2."""
    require_unshare_pid()
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", sys.executable, "-c", NS_ATTACKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        host_pid, ns_pid = (int(x) for x in proc.stdout.readline().split())
        assert ns_pid == 2 and host_pid != 2
        with watching(sensor, host_pid) as col:
            proc.stdin.write("go\n")
            proc.stdin.flush()
            done = proc.stdout.readline().split()
            assert done[:3] == ["done", "0", "0"], done
            ns_grandchild = int(done[3])
            pt = wait_event(
                col,
                lambda e: e["type"] == "ptrace" and e["request"] == "SEIZE" and e["target_pid"] == host_pid,
                "namespaced SEIZE of the agent",
            )
            assert pt["hook"] == tamper_hook(sensor)
            if pt["hook"] == "tp_btf/sys_enter":
                assert pt["arg_pid"] == ns_pid
            # the grandchild was forked after attach: its namespace pid was registered by the kernel
            fork = wait_event(col, lambda e: e["type"] == "fork" and e["pid"] == host_pid, "the agent's fork")
            gpt = wait_event(
                col,
                lambda e: e["type"] == "access" and e["target_pid"] == fork["child"],
                "namespaced process_vm_readv of a child forked after attach",
            )
            if gpt["hook"] == "tp_btf/sys_enter":
                assert gpt["arg_pid"] == ns_grandchild
            rd = wait_event(
                col, lambda e: e["type"] == "access" and e["op"] == "process_vm_readv", "namespaced readv"
            )
            assert rd["target_pid"] == host_pid
            proc.stdin.write("bye\n")
            proc.stdin.flush()
            proc.wait(timeout=10 * TIMESCALE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # host pid 2 (kthreadd) is never taken for the target
    assert not [e for e in col.events if e["type"] in ("ptrace", "access") and e["target_pid"] == 2]


@contextlib.contextmanager
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """An idle process no agent owns (it exits when its stdin closes); yields it.

    Why one helper: the "not an agent" controls here, in test_sensor_procfiles.py and in
    test_sensor_perf_knobs.py need the same target and the same end.
    """
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()"], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=10 * TIMESCALE)


def require_unshare_pid() -> None:
    """Skip where this host refuses a new PID namespace (an unprivileged container, say)."""
    if subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True, timeout=30).returncode:
        pytest.skip("unshare --pid is not permitted here")


NS_AGENT = "import os, sys; print(os.getpid(), flush=True); sys.stdin.readline()"


@contextlib.contextmanager
def agent_in_own_namespaces() -> Iterator[int]:
    """An idle agent in its own PID and mount namespaces (pid 1 there, its own /proc); yields its host pid.

    Why one helper: the container cases here, in test_sensor_procfiles.py and in
    test_sensor_perf_knobs.py need the same agent and the same end (it exits when its stdin
    closes; killed after 10 s).
    """
    require_unshare_pid()
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", NS_AGENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "1"
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        host_pid = int(kids[0])  # unshare's child: the agent (it has printed, so it exists)
        assert host_pid != 1
        yield host_pid
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10 * TIMESCALE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


NS_ACTS = ["nsenter-mount:/proc/1/mem", "unshare-pid:/proc/{host}/mem", "host:/proc/{host}/root/proc/1/mem",
           "host-dirfd:/proc/{host}/root/proc|1/mem"]  # fmt: skip


@pytest.mark.parametrize("act", NS_ACTS)
def test_proc_mem_across_pid_and_mount_namespaces(sensor: Any, act: str) -> None:
    """A /proc path's pid is resolved in the namespace of the procfs the kernel walks, not the caller's.

    The agent runs in its own PID and mount namespaces with its own /proc (pid 1 there, mounted
    over the host's).  Attackers: in the host PID namespace with the agent's mount namespace (its
    /proc: `/proc/1/mem`); in a new PID namespace with the host's /proc (`/proc/HOSTPID/mem`); on
    the host through the agent's root link, by path and by a dirfd of that procfs.
    """
    with agent_in_own_namespaces() as host_pid, watching(sensor, host_pid) as col:
        how, path = act.split(":", 1)
        path = path.format(host=host_pid)
        opener = "import os, sys; os.close(os.open(sys.argv[1], os.O_RDONLY))"
        named = host_pid if how == "unshare-pid" else 1
        argv = {
            "nsenter-mount": ["nsenter", "--target", str(host_pid), "--mount", "--", sys.executable, "-c",
                              opener, path],
            "unshare-pid": ["unshare", "--pid", "--fork", sys.executable, "-c", opener, path],
            "host": [sys.executable, "-c", opener, path],
            "host-dirfd": [sys.executable, "-c", "import os, sys; d = os.open(sys.argv[1], os.O_RDONLY); "
                           "os.close(os.open(sys.argv[2], os.O_RDONLY, dir_fd=d))", *path.split("|")],
        }[how]  # fmt: skip
        subprocess.run(argv, check=True, timeout=30 * TIMESCALE)
        e = wait_event(col, access_to(host_pid, "proc_mem_open"), act)
        assert e["hook"] == tamper_hook(sensor), e
        if e["hook"] == "tp_btf/sys_enter":
            assert e["arg_pid"] == named, e
    # host pid 1 (init) is never taken for the target
    assert not [e for e in col.events if e["type"] == "access" and e["target_pid"] == 1]


# ------------------------------------------------------------- lifecycle


def in_vmtest_guest() -> bool:
    try:
        return "virtme" in Path("/proc/cmdline").read_text()
    except OSError:
        return False


def _cgroup_prog_ids() -> set[int]:
    """Ids of every program attached to any cgroup (bpftool cgroup tree)."""
    out = subprocess.run(
        ["bpftool", "cgroup", "tree", "-j"], capture_output=True, text=True, timeout=60
    ).stdout
    return {int(p["id"]) for cg in json.loads(out or "[]") for p in cg.get("programs", [])}


def test_modes_reported_and_cgroup_hooks_detached_on_close() -> None:
    if os.geteuid() != 0:
        pytest.skip("not root")
    from h7.sensor.sensor import GAPS, Sensor

    s = Sensor()
    s.open()
    mine = {n: p.prog_id for n, p in s._programs.items() if n.startswith("h7_cg_") and p.autoload}
    try:
        modes = s.gap_modes
        assert set(modes) >= {"egress", "tampering", "pid_namespaces"}
        if in_vmtest_guest() and s.config.hook_mode == "auto":
            # fentry loads in every vmtest kernel: there, every gap that has a fentry mode must run in
            # it; a gap with none (proc_files: the open exits' tracepoints in both modes) in tracepoint
            # mode, i.e. all its programs attached
            assert {modes[g.name]["mode"] for g in GAPS if g.fentry} == {"fentry"}, modes
            assert {modes[g.name]["mode"] for g in GAPS if not g.fentry} <= {"tracepoint"}, modes
        assert modes["egress"]["mode"] in ("fentry", "tracepoint")
        if modes["egress"]["mode"] == "tracepoint":
            # this sensor's own four programs, by kernel id (other sensors may run on the host)
            assert len(mine) == 4 and {i for i in mine.values() if i} <= _cgroup_prog_ids()
            assert "cgroup/connect4" in modes["egress"]["hooks"]
        else:
            assert "fentry/inet_sendmsg" in modes["egress"]["hooks"]
    finally:
        s.close()
    deadline = time.monotonic() + 5 * TIMESCALE
    ids = {i for i in mine.values() if i is not None}
    while ids & _cgroup_prog_ids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ids & _cgroup_prog_ids(), "a cgroup hook stayed attached after close"


def int80() -> Any:
    """syscall(nr, a, b, c, d, e) through the ia32 entry (int $0x80) of this 64-bit process, as a C
    function (tests/agents/ia32.py); skips where there is none.  Arguments are 32 bits (pointers too)."""
    fn = ia32.int80()
    if fn is None:
        pytest.skip("no ia32 entry (not x86_64, or no IA32 emulation in this kernel)")
    return fn


def _int80_ptrace() -> Any:
    """ptrace(request, pid, 0, 0) through the ia32 entry (26)."""
    call = int80()
    return lambda request, pid: call(26, request, pid, 0, 0, 0)


def test_ptrace_through_the_ia32_entry(watched: Any) -> None:
    """PTRACE_ATTACH by int $0x80 (ia32 syscall 26) is seen (red-team round 3, g2r3_ptrace_int80)."""
    sensor, agent, col = watched
    pid = agent.proc.pid
    int80 = _int80_ptrace()
    rc = int80(16, pid)  # PTRACE_ATTACH
    if rc == -38:
        pytest.skip("no IA32 emulation in this kernel (ENOSYS)")
    assert rc == 0, os.strerror(-rc)
    try:
        os.waitpid(pid, 0x40000000)  # __WALL: the attach stop
    finally:
        libc.ptrace(PTRACE_DETACH, pid, None, None)
    e = wait_event(
        col,
        lambda e: (
            e.get("target_pid") == pid
            and ((e["type"] == "ptrace" and e.get("request") == "ATTACH") or e["type"] == "access")
        ),
        "ptrace attach through int 0x80",
    )
    assert e["pid"] == os.getpid() and e["hook"] == tamper_hook(sensor), e
    assert agent.cmd("addr")  # detached and running again


# ------------------------------------------------------------------ gap 4


def test_file_written_through_io_uring_then_run(watched: Any, native: Path, tmp_path: Path) -> None:
    """A program the agent wrote and closed through io_uring (OPENAT, WRITE, CLOSE), then ran, is
    agent-written (red-team round 4's g4r4_uring_written_exec): fentry mode sees the close at
    filp_close, tracepoint mode the CLOSE at io_uring's submit tracepoint.  The same bytes written
    the same way by an unwatched process (this test) are not."""
    sensor, agent, col = watched
    lib = str(native / "libh7uring.so")
    exe, theirs = tmp_path / "report-gen", tmp_path / "their-tool"
    data = Path("/usr/bin/id").read_bytes()
    n = ctypes.CDLL(lib).h7_uring_write_file(str(theirs).encode(), data, ctypes.c_long(len(data)))
    assert n == len(data), f"io_uring write by the test: {n}"
    assert agent.cmd(f"uring_exec {lib} {exe} /usr/bin/id") == "rc 0"
    assert agent.cmd(f"run {theirs}") == "rc 0"  # the agent runs a file it did not write
    e = wait_event(
        col, lambda e: e["type"] == "exec" and e["filename"] == str(exe), "exec of the written file"
    )
    assert "agent-written" in e["id_flags"] and e["written_ns"] > 0, e
    o = wait_event(
        col, lambda e: e["type"] == "exec" and e["filename"] == str(theirs), "exec of the test's file"
    )
    assert "agent-written" not in o["id_flags"], o
    assert sensor.gap_modes["written_files"]["mode"] in ("fentry", "tracepoint")


def _l2(l2cfg: dict[str, Any], live: bool = False) -> tuple[Any, ChannelContext]:
    """An L2 channel as the engine builds it; ``live`` lets it read this host's /proc."""
    cfg = EngineConfig.from_dict({"l2": l2cfg})
    ctx = ChannelContext(agent=1, agent_id="a", info=None, config=cfg, proc=ProcReader(live, "/proc"))
    return ExecChannel(cfg), ctx


def test_creat_link_and_rename_into_a_spool(watched: Any, tmp_path: Path) -> None:
    """creat(2), an O_TMPFILE file linked in place (linkat) and a rename into place put a job in a
    daemon's spool without any open/openat/openat2 naming it for writing (red-team round 5's
    g5r5_atjob_spool_creat; l3r5_fork_child_creat_loop's creat).  sys_enter reads them in both
    modes: each is an open record naming the new file, and L2 makes each a spool hand-off."""
    _, agent, col = watched
    with _tmpfile_dir(tmp_path) as base:
        _creat_link_and_rename_into(base, agent, col)


@contextlib.contextmanager
def _tmpfile_dir(tmp_path: Path) -> Iterator[Path]:
    """A scratch directory on a filesystem that has O_TMPFILE (the vmtest guest's /tmp refuses it with
    EOPNOTSUPP): tmp_path, else a directory made on /dev/shm or /run (tmpfs), removed after."""
    for parent in (None, "/dev/shm", "/run"):
        d = tmp_path if parent is None else Path(tempfile.mkdtemp(prefix="h7-tmpfile-", dir=parent))
        try:
            os.close(os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o600))
        except OSError:
            if parent is not None:
                shutil.rmtree(d, ignore_errors=True)
            continue
        try:
            yield d
        finally:
            if parent is not None:
                shutil.rmtree(d, ignore_errors=True)
        return
    pytest.fail("no filesystem with O_TMPFILE among tmp_path, /dev/shm, /run")


def _creat_link_and_rename_into(tmp_path: Path, agent: Agent, col: Collector) -> None:
    spool = tmp_path / "atjobs"
    spool.mkdir()
    a1, a2, a3 = spool / "a0001", spool / "a0002", spool / "a0003"
    assert agent.cmd(f"creat {a1}") == "ok"
    assert agent.cmd(f"tmpfile_link {spool} {a2}") == "ok"
    assert agent.cmd(f"rename {tmp_path / 'staged'} {a3}") == "ok"
    wr = os.O_CREAT | os.O_WRONLY
    c = wait_event(col, lambda e: e["type"] == "open" and e["path"] == str(a1), "creat(2)")
    assert c["op"] == "creat" and c["flags"] == wr | os.O_TRUNC and c["mode"] == 0o600, c
    ln = wait_event(col, lambda e: e["type"] == "open" and e["path"] == str(a2), "linkat of an O_TMPFILE")
    assert ln["op"] == "link" and ln["flags"] == wr, ln
    rn = wait_event(col, lambda e: e["type"] == "open" and e["path"] == str(a3), "rename into place")
    assert rn["op"] == "rename_to", rn
    ch, ctx = _l2({"handoff_spools": [f"{spool}/*"]})
    alerts = ch.on_events([c, ln, rn], ctx)
    assert [a.code for a in alerts] == ["DAEMON_HANDOFF"] * 3, alerts
    assert [a.evidence["spool_file"] for a in alerts] == [str(a1), str(a2), str(a3)]
    ch2, ctx2 = _l2({})  # the defaults name the real spools, not this directory
    assert ch2.on_events([c, ln, rn], ctx2) == []


def test_proc_fd_reopen_is_fd_theft(watched: Any, tmp_path: Path) -> None:
    """Opening the agent's /proc/<pid>/fd/<n> opens the file behind its descriptor anew (red-team
    round 5's g2r5_procfd_reopen_log: its log reopened for appending, a line forged).  The kernel
    checks only read-level access for it, so it is read from the open's path in both modes:
    absolute, through /proc/<pid>/task/<tid>, relative to /proc/<pid>/fd.  Listing the directory,
    readlink and fdinfo (lsof, ls -l) are not opens of it and report nothing."""
    _, agent, col = watched
    _, _, pid = agent_buf(agent)
    log = tmp_path / "agent.log"
    n = int(agent.cmd(f"log {log}"))
    # not an open of the file: nothing
    os.readlink(f"/proc/{pid}/fd/{n}")
    assert str(n) in os.listdir(f"/proc/{pid}/fd")
    Path(f"/proc/{pid}/fdinfo/{n}").read_text()
    fd = os.open(f"/proc/{pid}/fd/{n}", os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"agent: forged line\n")
    finally:
        os.close(fd)
    os.close(os.open(f"/proc/{pid}/task/{pid}/fd/{n}", os.O_RDONLY))
    dfd = os.open(f"/proc/{pid}/fd", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.close(os.open(str(n), os.O_RDONLY, dir_fd=dfd))
    finally:
        os.close(dfd)
    assert log.read_bytes() == b"agent: forged line\n"
    seen: list[dict[str, Any]] = []
    for k in range(3):
        seen.append(
            wait_event(
                col,
                lambda e, k=k: e["type"] == "access" and e["op"] == "proc_fd_open" and e not in seen[:k],
                f"fd reopen #{k + 1}",
            )
        )
    for e in seen:
        assert e["target_pid"] == pid and e["pid"] == os.getpid() and e["arg_fd"] == n, e
        assert e["hook"] == "tp_btf/sys_enter", e
    assert seen[0]["mode"] & os.O_APPEND and seen[0]["mode"] & 3 == os.O_WRONLY, seen[0]
    col.stop()
    mine = [e for e in col.events if e["type"] == "access" and e["pid"] == os.getpid()]
    assert len(mine) == 3, mine  # (others' acts on the host, e.g. a `ps` sweep, are theirs)
    alerts = l5_certified(seen[0])
    assert [a.code for a in alerts] == ["FD_THEFT_DETECTED"], alerts
    assert alerts[0].evidence["target_fd"] == n and alerts[0].evidence["act"] == "proc_fd_open"


def handoff_hook(sensor: Any) -> str:
    if sensor.gap_modes["handoffs"]["mode"] == "fentry":
        return "fentry/security_unix_may_send"
    return "tp_btf/sys_enter"


def test_unix_connect_through_io_uring_is_a_handoff_record(
    watched: Any, native: Path, tmp_path: Path
) -> None:
    """An io_uring CONNECT + SEND on a unix socket, no connect(2) (red-team round 3's
    g5r3_uring_unix_socat handed socat's EXEC service a command so): the kernel reports the
    peer like a connect(2)'s -- fentry: fexit/unix_stream_connect; tracepoint: noted at io_uring's
    submit tracepoint, read at the thread's next syscall.  The listener is this test's: L2 then
    judges who holds it (an ordinary process here, a daemon in the red-team variant)."""
    sensor, agent, col = watched
    path = str(tmp_path / "svc.sock")
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(path)
    lst.listen(1)
    lst.settimeout(10 * TIMESCALE)
    got: list[bytes] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            c, _ = lst.accept()
            with c:
                c.settimeout(10 * TIMESCALE)
                got.append(c.recv(64))

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        assert agent.cmd(f"uring_unix {native / 'libh7uring.so'} {path}") == "13"
        th.join(timeout=10 * TIMESCALE)
        assert got == [b"h7-uring-unix"]
        agent.cmd("addr")  # the agent's next syscalls: tracepoint mode reads the peer there
        h = wait_event(
            col, lambda e: e["type"] == "handoff" and e["path"] == path, "the io_uring unix connect"
        )
        fentry = sensor.gap_modes["handoffs"]["mode"] == "fentry"
        assert h["hook"] == ("fexit/unix_stream_connect" if fentry else URING_HOOK), h
        assert h["peer_pid"] == os.getpid() and h["sock_type"] == "stream", h
    finally:
        lst.close()


def test_unix_datagram_to_a_daemon_is_a_handoff(watched: Any, tmp_path: Path) -> None:
    """A unix datagram needs no connect: sendto/sendmsg naming a bound socket, or a connected
    datagram socket (red-team round 5's g5r5_socat_dgram_handoff: `socat UNIX-RECVFROM:S,fork
    EXEC:/bin/sh` runs each one).  The kernel reports the receiver's address (fentry: the LSM hook
    of every unix datagram; tracepoint: the send's address, the connect's peer); L2 asks /proc who
    holds it: socat is a command-running daemon, a plain process is not."""
    sensor, agent, col = watched
    daemon_sock, plain = tmp_path / "d.sock", [tmp_path / f"p{i}.sock" for i in range(2)]
    socat = subprocess.Popen(
        ["socat", "-u", f"UNIX-RECV:{daemon_sock}", "OPEN:/dev/null"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    receivers = []
    try:
        for p in plain:
            r = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            r.bind(str(p))
            receivers.append(r)
        deadline = time.monotonic() + 10 * TIMESCALE
        while not daemon_sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert daemon_sock.exists(), "socat did not bind"
        for path, how in ((daemon_sock, "sendto"), (plain[0], "sendmsg"), (plain[1], "connect")):
            assert agent.cmd(f"dgram {path} {how}") == "8", how
        ev = {}
        for path in (daemon_sock, *plain):
            ev[path] = wait_event(
                col, lambda e, p=str(path): e["type"] == "handoff" and e["path"] == p, f"datagram to {path}"
            )
            assert ev[path]["sock_type"] == "dgram" and ev[path]["peer_pid"] == 0, ev[path]
            assert ev[path]["hook"] == handoff_hook(sensor), ev[path]
        # The kernel names the receiving socket's inode when it has the socket (fentry: always;
        # tracepoint: a connected datagram); an addressed send in tracepoint mode names its address.
        assert ev[plain[1]]["peer_ino"] == os.fstat(receivers[1].fileno()).st_ino, ev[plain[1]]
        if handoff_hook(sensor).startswith("fentry"):
            assert ev[daemon_sock]["peer_ino"] in _socket_inodes(socat.pid), ev[daemon_sock]
            assert ev[plain[0]]["peer_ino"] == os.fstat(receivers[0].fileno()).st_ino, ev[plain[0]]
        # L2 finds the receiver in its index of the daemons' sockets, swept on the batch path
        # (here: the slices a batch path would run), with the urgent path's budget at its default
        # on a busy host; the urgent path itself searches no /proc (found by "index").
        with _busy_host():
            ch, ctx = _l2({}, live=True)
            assert ch.settings.handoff_proc_budget_ms == 50.0
            _sweep(ch, ctx)
            alerts = ch.on_events([ev[daemon_sock]], ctx)
            assert [a.code for a in alerts] == ["DAEMON_HANDOFF"], alerts
            got = alerts[0].evidence
            assert got["daemon_comm"] == "socat" and got["daemon_pid"] == socat.pid and got["datagram"], got
            assert got["daemon_found_by"] == "index", got
            assert ch.on_events([ev[p] for p in plain], ctx) == []  # this test's own receivers: no daemon
            assert all(ch.refresh_index(ctx, 5.0 * TIMESCALE) == [] for _ in range(2))  # nor later
    finally:
        for r in receivers:
            r.close()
        socat.kill()
        socat.wait()


def _socket_inodes(pid: int) -> set[int]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                out.add(int(link[8:-1]))
    return out


def _sweep(ch: Any, ctx: ChannelContext) -> None:
    """Run the index's sweep to its end in batch-path slices (default slice), bounded in time."""
    index = ch.handoff_index(ctx)
    start = index.sweeps
    deadline = time.monotonic() + 60 * TIMESCALE
    ch.refresh_index(ctx)
    while index.sweeps == start or index.completed_at < 0:
        assert time.monotonic() < deadline, index.status()
        index.step(ch.settings.handoff_index_slice_ms / 1000.0, urgent=True)


@contextlib.contextmanager
def _busy_host(n: int = 400) -> Iterator[None]:
    """A host with many more processes than a quiet one (each a /proc entry a sweep reads), and
    two CPU-bound ones: what made the urgent path's 50-ms /proc search give up in CI's guest."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen(["sleep", str(int(120 * TIMESCALE))]))
        for _ in range(2):
            # one process (killed below) that ends by itself after 120 s even if it were not
            spin = "import os, time\nos.nice(10)\nt = time.monotonic() + 120\nwhile time.monotonic() < t: 0"
            procs.append(subprocess.Popen([sys.executable, "-c", spin]))
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def test_a_daemon_bound_after_the_sweep_is_judged_after_the_next(watched: Any, tmp_path: Path) -> None:
    """A daemon that binds its socket after the index's last sweep is not on the index: the
    hand-off waits for the next sweep (batch path) and is certified then ("index-late"), instead
    of searching /proc on the urgent path; a receiver that is no daemon stays quiet."""
    _, agent, col = watched
    ch, ctx = _l2({}, live=True)
    _sweep(ch, ctx)
    late_sock, plain_sock = tmp_path / "late.sock", tmp_path / "plain.sock"
    socat = subprocess.Popen(
        ["socat", "-u", f"UNIX-RECV:{late_sock}", "OPEN:/dev/null"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    plain = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        plain.bind(str(plain_sock))
        # the path appears at bind's mknod, before the socket is reachable through it: a send in
        # between is refused (seen once in the 1-vCPU 6.1 guest); wait until a connect gets through
        deadline = time.monotonic() + 10 * TIMESCALE
        ready = False
        while not ready and time.monotonic() < deadline:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
                try:
                    probe.connect(str(late_sock))
                    ready = True
                except OSError:
                    time.sleep(0.05)
        assert ready, "socat did not bind"
        for p in (late_sock, plain_sock):
            assert agent.cmd(f"dgram {p} sendto") == "8"
        evs = [
            wait_event(col, lambda e, p=str(p): e["type"] == "handoff" and e["path"] == p, f"datagram to {p}")
            for p in (late_sock, plain_sock)
        ]
        assert ch.on_events(evs, ctx) == []  # not on the index yet: deferred, no /proc search
        assert ch.handoffs_deferred == 2
        alerts: list[Any] = []
        deadline = time.monotonic() + 60 * TIMESCALE
        while ch._deferred and time.monotonic() < deadline:
            alerts += ch.refresh_index(ctx)
        assert [a.code for a in alerts] == ["DAEMON_HANDOFF"], alerts
        got = alerts[0].evidence
        assert got["daemon_pid"] == socat.pid and got["daemon_found_by"] == "index-late", got
        assert got["socket"] == str(late_sock)
    finally:
        plain.close()
        socat.kill()
        socat.wait()


def test_xattr_set_and_get_are_data_flows(watched: Any, tmp_path: Path) -> None:
    """An extended attribute carries data into and out of a file with no open of it (red-team
    round 6's l3r6_cycle_xattr_channel: a tool stores its result in a ``user.`` xattr, the agent
    reads it back with getxattr).  sys_enter reports every set/get of the agent's processes in
    both modes as an open record (xattr_set: a write, xattr_get: a read; the fd forms with the
    fd as dfd), so L3 sees the child-to-agent flow and the loop closes."""
    _, agent, col = watched
    f = tmp_path / "state"
    f.write_bytes(b"")
    agent.cmd(f"xattr_child {f}")
    get = wait_event(
        col, lambda e: e["type"] == "open" and e["op"] == "xattr_get" and e["path"] == str(f), "getxattr"
    )
    st = wait_event(
        col, lambda e: e["type"] == "open" and e["op"] == "xattr_set" and e["path"] == str(f), "setxattr"
    )
    assert st["flags"] & 3 == os.O_WRONLY and st["pid"] != agent.proc.pid, st  # the child's write
    assert get["flags"] & 3 == os.O_RDONLY and get["pid"] == agent.proc.pid, get
    out = agent.cmd(f"xattr_fd {f}")
    fd = int(out.split()[1])
    ops = []
    for op, dfd, path in (("xattr_set", fd, ""), ("xattr_get", fd, ""), ("xattr_set", -100, str(f)),
                          ("xattr_get", -100, str(f))):  # fmt: skip
        ops.append(
            wait_event(
                col,
                lambda e, op=op, dfd=dfd, path=path: (
                    e["type"] == "open"
                    and e["op"] == op
                    and e["dfd"] == dfd
                    and e["path"] == path
                    and e["pid"] == agent.proc.pid
                    and e not in ops
                ),
                f"{op} dfd {dfd} {path!r}",
            )
        )
    col.stop()
    events = sorted(col.events, key=lambda e: int(e.get("ts_ns", 0)))
    named = [
        e["op"]
        for e in events
        if e["type"] == "open" and e["op"].startswith("xattr_") and e["pid"] == agent.proc.pid and e["path"]
    ]
    # getxattr (user.h7), lsetxattr, lgetxattr; not system.posix_acl_access (ls -l's kind of read)
    assert named == ["xattr_get", "xattr_set", "xattr_get"], named
    b = CausalGraphBuilder(agent.proc.pid, sys.executable)
    flows: list[ProcEdge] = []
    b.edges(events, flows)
    got = [x for x in flows if x.kind == "flow" and x.path == str(f)]
    assert got and got[0].dst.split(".")[0] == str(agent.proc.pid), flows
    l3 = CausalChannel(EngineConfig())
    l3.builder = b
    l3._add_flows(flows)
    assert l3._path(got[0].dst, got[0].src) is not None  # the agent spawned the writer: a loop
