"""L4 destinations are per transport protocol, with real BPF, real sockets and real certificates.

Red-team round 10's class (``g1r10_udp_to_allowed_api_port``, held out; fixed by class here): the
allowlist names the agent's model API as ``127.0.0.1:<port>`` -- a TCP service -- and datagrams
sent to that same address and port are not that service.  The kernel now reports the sending
socket's protocol (``h7_net.proto``/``stype``, every egress hook), and keys, allow rules and
baseline-learnt destinations are per protocol (bare spelling: TCP; ``udp:`` prefix for UDP).

Pinned against the demo's agent (allowlist ``127.0.0.1:<its API port>``, a bare entry):

* a UDP datagram to 127.0.0.1:<API port> is UNKNOWN_DESTINATION (``udp:`` key), while the agent's
  TCP traffic to the same port -- all baseline long and after -- is not;
* UDP to a destination learnt during the baseline is allowed afterwards, and that learnt UDP key
  does not allow TCP to the same address and port.

Both fail on a tree whose keys are address:port only (the datagram matched the TCP rule, the
learnt UDP key allowed the TCP connect).
"""

from __future__ import annotations

import time
from typing import Any

import test_live_semantics as live
from test_live_semantics import _inject, _l4, _monitoring, _wait

site = live.site  # the fixture: real HTTP servers on loopback addresses

# The agent's tool: N datagrams to a host:port (a plain sendto, a fresh socket each).
DATAGRAMS = """
import socket, time
for i in range(int(ARGS["n"])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x" * 64, (ARGS["host"], int(ARGS["port"])))
    s.close()
    time.sleep(float(ARGS["gap"]))
"""

# The agent's tool: one TCP connect (and a short request) to host:port.
CONNECT = """
import socket
with socket.create_connection((ARGS["host"], int(ARGS["port"])), timeout=5) as s:
    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
    s.recv(64)
"""


def _unknown_keys(d: Any) -> list[str]:
    return [b["alert_key"] for b in _l4(d, "") if b["code"] == "UNKNOWN_DESTINATION"]


def test_a_datagram_to_the_allowed_tcp_apis_port_is_an_unknown_destination(demo: Any) -> None:
    _monitoring(demo)
    api = int(demo.api_port)  # allowed as "127.0.0.1:<api>": TCP, the agent uses it all along
    _inject(demo, DATAGRAMS, {"host": "127.0.0.1", "port": api, "n": 3, "gap": 0.1})
    _wait(
        lambda: [k for k in _unknown_keys(demo) if k.startswith("udp:127.0.0.1:")], 15, "the datagram", demo
    )
    time.sleep(1.5)  # a batch more: the agent's TCP calls to the same port go on meanwhile
    certs = [b for b in _l4(demo, "") if b["code"] == "UNKNOWN_DESTINATION"]
    udp = [b for b in certs if b["alert_key"].startswith("udp:")]
    assert len(udp) == 1, [b["alert_key"] for b in certs]
    ev = udp[0]["evidence"]
    assert ev["protocol"] == "udp" and ev["port"] == api and ev["addr"] == "127.0.0.1"
    assert ev["destination"] == f"udp:127.0.0.1:{api}"
    # the TCP API on the very same address and port: allowed, as before
    assert not [b for b in certs if b["alert_key"].startswith("127.0.0.1:")], [b["alert_key"] for b in certs]


def test_a_baseline_learnt_udp_destination_does_not_allow_tcp_to_it(demo: Any, site: Any) -> None:
    # One port number for both: a TCP server, and datagrams to the same address and port.
    port = site("127.0.0.12")
    demo.setup()
    _wait(
        lambda: demo.status().get("engine", {}).get("phase") == "baseline", 40, "the baseline's start", demo
    )
    # during the baseline: datagrams to 127.0.0.12:<port> (learnt, per protocol)
    _inject(demo, DATAGRAMS, {"host": "127.0.0.12", "port": port, "n": 3, "gap": 0.2})
    _wait(lambda: demo.status().get("engine", {}).get("phase") == "monitoring", 40, "the baseline", demo)
    (agent_id,) = demo.status()["engine"]["agents"]
    learnt = demo.status()["engine"]["agents"][agent_id]["channels"]["L4"]["baseline_destinations"]
    assert learnt >= 1
    # after it: the same datagrams are known; a TCP connect to the same address and port is not
    _inject(demo, DATAGRAMS, {"host": "127.0.0.12", "port": port, "n": 2, "gap": 0.1})
    _inject(demo, CONNECT, {"host": "127.0.0.12", "port": port})
    _wait(
        lambda: [k for k in _unknown_keys(demo) if k.startswith("127.0.0.12:")], 15, "the TCP connect", demo
    )
    time.sleep(1.5)
    keys = [k for k in _unknown_keys(demo) if "127.0.0.12" in k]
    assert keys == ["127.0.0.12:ephemeral"], keys  # TCP judged; the learnt UDP key not re-alerted
