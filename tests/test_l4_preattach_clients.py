"""L4, real sockets, no BPF: the clients of connections the agent accepted are found in /proc.

A connection accepted before the sensor's programs were loaded is never marked by the kernel
(measured with real BPF and ``h7 attach``, session 11), so the agent's replies to its
client arrive as sends to the client's address and ephemeral port.  L4 reads the agent's accepted
connections at its first batch (``listeners.accepted_clients``) and judges those sends as the
inbound peers they are.  Here: a real agent process serving HTTP, a real client outside it, a
real outbound connection of the agent; the net record is shaped as the kernel reports such a send.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
import time
from typing import Any

from test_sensor_gaps import Agent, OkSite

from h7.batch import AgentInfo, Batch
from h7.detect.channels.base import PHASE_MONITORING, ChannelContext, ProcReader
from h7.detect.channels.l4_egress import EgressChannel
from h7.detect.engine import EngineConfig
from h7.detect.listeners import accepted_clients

LO = ipaddress.IPv4Address("127.0.0.1")


def _ctx(pid: int, live: bool = True) -> ChannelContext:
    info = AgentInfo(agent=1, agent_id="a", root_pid=pid, exe="", cmdline=[], start_time_ns=0)
    return ChannelContext(
        agent=1, agent_id="a", info=info, config=EngineConfig(), proc=ProcReader(live, "/proc")
    )


def _send(pid: int, port: int) -> dict[str, Any]:
    """A send on a connected TCP socket the kernel did not mark as accepted (tracepoint mode)."""
    return {"type": "net", "op": "sendto", "family": "inet", "addr": "127.0.0.1", "port": port, "fd": 5,
            "bytes": 512, "from_socket": True, "inbound": False, "hook": "tp_btf/sys_enter",
            "pid": pid, "tid": pid, "comm": "python", "ts_ns": 10, "agent": 1}  # fmt: skip


def test_clients_of_the_agents_listeners_are_found_and_judged_as_peers() -> None:
    agent = Agent(None)
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OkSite)  # outside the agent
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        port = int(agent.cmd("serve"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            cport = client.getsockname()[1]
            # the server thread's accept() gives the socket its fd (until then /proc lists inode 0)
            deadline = time.monotonic() + 10
            while (found := accepted_clients(agent.proc.pid)).get((LO, cport)) is None:
                assert time.monotonic() < deadline, f"the agent never accepted the client: {found}"
                time.sleep(0.05)
            assert found[(LO, cport)] == port, found
            # the agent's own outbound connection is no client of its listeners
            assert agent.cmd(f"keep {site.server_address[1]}") == "ok"
            assert (LO, site.server_address[1]) not in accepted_clients(agent.proc.pid)

            learning, judging = EgressChannel(EngineConfig()), EgressChannel(EngineConfig())
            lctx, jctx = _ctx(agent.proc.pid), _ctx(agent.proc.pid)
            learning.learn(Batch(0, 1), lctx)  # the first batch: /proc read while the client is connected
            judging.learn(Batch(0, 1), jctx)
        reply = _send(agent.proc.pid, cport)
        assert learning.on_events([reply], lctx) == []
        learning.learn(Batch(1, 2, events=[reply]), lctx)
        (item,) = learning.learnt_outside_allowlist(lctx)
        assert (item["key"], item["direction"], item["learnt"]) == (
            f"inbound|{port}|127.0.0.1/32|ephemeral",
            "inbound",
            f"inbound client 127.0.0.1:ephemeral on port {port}",
        )
        assert learning.status()["replies_accepted_before_attach"] == 1
        judging.finish_baseline(jctx)
        jctx.phase = PHASE_MONITORING
        (alert,) = judging.on_events([reply], jctx)
        ev = alert.evidence
        assert (ev["direction"], ev["local_port"], ev["accepted_before_attach"]) == ("inbound", port, True)
        # a send to the site the agent connected out to is still judged as egress
        (out,) = judging.on_events([_send(agent.proc.pid, site.server_address[1])], jctx)
        assert out.evidence["direction"] == "outbound"
    finally:
        site.shutdown()
        site.server_close()
        agent.close()


def test_a_replay_reads_nothing_and_judges_the_send_by_its_address() -> None:
    l4 = EgressChannel(EngineConfig())
    ctx = ChannelContext(
        agent=1, agent_id="a", info=None, config=EngineConfig(), proc=ProcReader(False, "/proc")
    )
    ev = _send(7, 50_000)
    l4.learn(Batch(0, 1, events=[ev]), ctx)
    assert l4.status()["replies_accepted_before_attach"] == 0
    (item,) = l4.learnt_outside_allowlist(ctx)
    assert (item["key"], item["learnt"]) == ("127.0.0.1/32|ephemeral", "127.0.0.1:ephemeral")
