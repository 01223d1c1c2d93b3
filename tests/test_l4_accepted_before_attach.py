"""Real BPF, real sockets: a connection the agent accepted BEFORE the sensor loaded (issue 12).

The kernel marks an accepted TCP socket when its handshake completes (SYN_RECV); a
client that connected before the sensor's programs were loaded was never marked, so
the agent's replies to it arrive as sends to the client's address and ephemeral port.
Session 10's bench saw the result on redis-server: its BASELINE_LEARNT record listed
``L4 127.0.0.1:47304``.  Measured here (session 11) before the fix: such a client was
learnt as the OUTBOUND destination ``127.0.0.1/32|ephemeral`` (so afterwards the agent
could connect out to any ephemeral port of 127.0.0.1 unseen), while a client that
connected after the load was learnt correctly, per listener, and only displayed with its
real port.  Now L4 reads the agent's accepted connections from /proc at its first batch
and judges those replies as the inbound peers they are; the record says what is
allowed in the allowlist's spelling.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import unload_shared_sensor
from test_sensor_bpf import Collector
from test_sensor_gaps import Agent, OkSite, wait_event

from h7.batch import AgentInfo, Batch
from h7.cal.chain import _lifecycle_record
from h7.detect.channels.base import PHASE_MONITORING, ChannelContext, ProcReader
from h7.detect.channels.l4_egress import EgressChannel, host_ephemeral_range
from h7.detect.engine import EngineConfig, _learnt_line


@pytest.fixture
def early_client() -> Iterator[tuple[Agent, int, socket.socket]]:
    """The agent serving HTTP and a client outside it that connected before the sensor loads
    (requested before ``sensor``, so pytest sets it up first; the sensor a previous test left
    open is closed first, or its programs would see the connect)."""
    unload_shared_sensor()
    agent = Agent(None)
    client: socket.socket | None = None
    try:
        port = int(agent.cmd("serve"))
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        yield agent, port, client
    finally:
        if client is not None:
            client.close()
        agent.close()


def _ctx(agent: Agent) -> ChannelContext:
    info = AgentInfo(agent=1, agent_id="a", root_pid=agent.proc.pid, exe="", cmdline=[], start_time_ns=0)
    return ChannelContext(
        agent=1, agent_id="a", info=info, config=EngineConfig(), proc=ProcReader(True, "/proc")
    )


def test_a_client_accepted_before_the_sensor_loaded_is_a_peer_not_a_destination(
    early_client: tuple[Agent, int, socket.socket], sensor: Any
) -> None:
    agent, port, client = early_client
    cport = client.getsockname()[1]
    lo, hi = host_ephemeral_range()
    assert lo <= cport <= hi, "the client's port is not ephemeral on this host"
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OkSite)  # a new site, ephemeral port
    threading.Thread(target=site.serve_forever, daemon=True).start()
    sensor.add_agent(agent.proc.pid)
    col = Collector(sensor).start()
    try:
        learning, judging = EgressChannel(EngineConfig()), EgressChannel(EngineConfig())
        lctx, jctx = _ctx(agent), _ctx(agent)
        for ch, ctx in ((learning, lctx), (judging, jctx)):
            ch.learn(Batch(0, 1), ctx)  # the agent's first batch: /proc read, the client still connected
        client.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        while client.recv(65536):
            pass
        reply = wait_event(
            col,
            lambda e: e["type"] == "net" and e["port"] == cport and e["pid"] == agent.proc.pid,
            "the reply to the early client",
        )
        assert agent.cmd(f"get {site.server_address[1]}") == "200"  # the agent's own fetch, after
        out = wait_event(
            col,
            lambda e: e["type"] == "net" and e["port"] == site.server_address[1] and e["op"] == "connect",
            "the agent's connect to the new site",
        )
    finally:
        col.stop()
        site.shutdown()
        site.server_close()
    # the kernel could not tell: it reports the reply as a send to the client's port
    assert not reply["inbound"] and reply["from_socket"] and reply["addr"] == "127.0.0.1", reply

    # baseline (the engine's order: the immediate path, then the batch): learnt as a client of
    # the agent's listener, never as an outbound destination
    assert learning.on_events([reply], lctx) == []
    learning.learn(Batch(1, 2, events=[reply]), lctx)
    learnt = learning.learnt_outside_allowlist(lctx)
    assert [(i["key"], i.get("direction")) for i in learnt] == [
        (f"inbound|{port}|127.0.0.1/32|ephemeral", "inbound")
    ], learnt
    assert learnt[0]["learnt"] == f"inbound client 127.0.0.1:ephemeral on port {port}"
    assert learnt[0]["destination"] == f"127.0.0.1:{cport}"  # the first one, as evidence
    assert learning.status()["replies_accepted_before_attach"] == 1
    # what the operator reads: the allowlist's spelling, never a client's port
    details = {"learnt": {"L4": learnt}}
    assert _learnt_line(details["learnt"]) == f"L4 inbound client 127.0.0.1:ephemeral on port {port}"
    rec = _lifecycle_record(
        {
            "seq": 2,
            "action": "BASELINE_LEARNT",
            "ts_ns": 1,
            "reason": "r",
            "sensor": {"pid": 1, "start_ticks": 1, "boot_id": "b"},
            "details": details,
        }
    )
    assert rec.learnt == (f"L4 inbound client 127.0.0.1:ephemeral on port {port}",)
    learning.finish_baseline(lctx)
    lctx.phase = PHASE_MONITORING
    # so the agent's connect to a new site on another ephemeral port of 127.0.0.1 is judged
    alerts = learning.on_events([out], lctx)
    assert [(a.code, a.key, a.evidence["direction"]) for a in alerts] == [
        ("UNKNOWN_DESTINATION", "127.0.0.1:ephemeral", "outbound")
    ]

    # monitoring: the same reply is judged as an inbound peer of that listener
    judging.finish_baseline(jctx)
    jctx.phase = PHASE_MONITORING
    alerts = judging.on_events([reply], jctx)
    assert len(alerts) == 1
    ev = alerts[0].evidence
    assert (ev["direction"], ev["local_port"], ev.get("accepted_before_attach")) == ("inbound", port, True), (
        ev
    )


def test_without_proc_a_replay_judges_it_as_before() -> None:
    """A replay has no /proc of that time: nothing is read, the send is judged by its address."""
    l4 = EgressChannel(EngineConfig())
    ctx = ChannelContext(
        agent=1, agent_id="a", info=None, config=EngineConfig(), proc=ProcReader(False, "/proc")
    )
    lo = host_ephemeral_range()[0]
    ev = {"type": "net", "op": "sendto", "family": "inet", "addr": "127.0.0.1", "port": lo + 3,
          "from_socket": True, "inbound": False, "pid": 7, "ts_ns": 5, "bytes": 10}  # fmt: skip
    l4.learn(Batch(0, 1, events=[ev]), ctx)
    assert l4.status()["replies_accepted_before_attach"] == 0
    (item,) = l4.learnt_outside_allowlist(ctx)
    assert (item["key"], item["learnt"]) == ("127.0.0.1/32|ephemeral", "127.0.0.1:ephemeral")
