"""L4: replies on accepted connections, judged by who connected in (red-team round 7).

The kernel marks a send on an accepted TCP socket ``inbound`` and says whether
the connecting socket was one of the SAME agent's connects (``peer_own``,
matched by 4-tuple at ESTABLISHED; tests/test_sensor_gaps.py checks that side
with real BPF).  Here: L4 keeps replies to the agent's own connects out of
egress (an in-process docs site fetched by its own tool: issue 12's false
alarms), judges replies to anyone else by the peer's address
(``g1r7_accept_side_pull``: a collector connects IN and takes the secret), and
learns the peers served during the baseline in a set of their own -- the
agent's connects OUT to ``127.0.0.1:<ephemeral>`` (its model API) must not
allow a collector at ``127.0.0.1:<ephemeral>`` to pull.  A raw IP_HDRINCL
packet is judged by its header's destination (``ip_header``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from h7.alert import Alert
from h7.config import EngineConfig
from h7.detect.channels.l4_egress import host_ephemeral_range
from h7.detect.engine import Engine

sys.path.insert(0, str(Path(__file__).parent / "journals"))
import make_synthetic as ms

NS = 10**9
T = ms.T0 + 40 * NS
EPH = host_ephemeral_range()[0] + 7  # a client's port: inside the host's ephemeral range


def _net(op: str, addr: str, port: int, ts: int, **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "fd": 5,
        "bytes": 100,
        "from_socket": op in ("sendto", "write"),
        "hook": "tp_btf/sys_enter" if op != "connect" else "cgroup/connect4",
    }
    return ms.net_event(op, addr, port, ts, **{**fields, **kw})


def _reply(addr: str, port: int, ts: int, own: bool | None, lport: int = 8000) -> dict[str, Any]:
    """A send on an accepted socket; own=None: a record from before the kernel told them apart."""
    kw: dict[str, Any] = {"inbound": True}
    if own is not None:
        kw["peer_own"] = own
        kw["lport"] = lport
    return _net("sendto", addr, port, ts, **kw)


def _engine(baseline_events: Any = (), **cfg: Any) -> Engine:
    # the agent's model API on 127.0.0.1:<ephemeral>, connected to all baseline long
    model_api = _net("connect", "127.0.0.1", EPH + 100, ms.T0 + 2 * NS + 1)
    return ms.baselined_engine(
        EngineConfig(read_proc=False, **cfg), added={2: [model_api], 3: list(baseline_events)}
    )


def _l4(out: list[Alert]) -> list[Alert]:
    return [a for a in out if a.channel == "L4" and a.code == "UNKNOWN_DESTINATION"]


def _status(engine: Engine) -> dict[str, Any]:
    (ch,) = [c for c in engine.agents[1].channels if c.name == "L4"]
    return ch.status()


def test_a_reply_to_the_agents_own_connect_is_not_egress() -> None:
    engine = _engine()
    out = engine.on_events([_reply("127.0.0.1", EPH + k, T + k, own=True) for k in range(20)])
    assert _l4(out) == []
    assert _status(engine)["inbound_sends_not_egress"] == 20


def test_a_reply_to_a_client_outside_the_agent_is_judged_by_the_peer() -> None:
    """The accept-side pull: no connect at all, the secret leaves on the accepted socket."""
    engine = _engine()
    out = _l4(engine.on_events([_reply("127.0.0.1", EPH, T, own=False)]))
    assert [a.key for a in out] == ["127.0.0.1:ephemeral"]
    ev = out[0].evidence
    assert ev["direction"] == "inbound" and ev["port"] == EPH and ev["op"] == "sendto"
    # the baseline's OUTBOUND 127.0.0.1:<ephemeral> (the model API) did not allow it
    assert _status(engine)["baseline_destinations"] >= 1 and _status(engine)["baseline_inbound_peers"] == 0


def test_a_remote_client_is_judged_and_an_allowlisted_one_is_not() -> None:
    engine = _engine(channel_settings={"L4": {"allow": ["10.0.0.0/8"]}})
    out = _l4(
        engine.on_events(
            [_reply("10.1.2.3", EPH, T, own=False), _reply("198.51.100.7", EPH + 1, T + 1, own=False)]
        )
    )
    assert [a.key for a in out] == ["198.51.100.7:ephemeral"]


def test_records_without_peer_own_stay_replies() -> None:
    """Journals written before the kernel matched peers: their inbound sends are not judged."""
    engine = _engine()
    assert _l4(engine.on_events([_reply("198.51.100.7", EPH, T, own=None)])) == []


def test_peers_served_during_the_baseline_are_learnt_per_listener_and_signed() -> None:
    engine = _engine(baseline_events=[_reply("127.0.0.5", EPH, ms.T0 + 3 * NS + 5, own=False)])
    assert _l4(engine.on_events([_reply("127.0.0.5", EPH + 3, T, own=False)])) == []
    assert _status(engine)["baseline_inbound_peers"] == 1
    (ch,) = [c for c in engine.agents[1].channels if c.name == "L4"]
    learnt = [d for d in ch.learnt_outside_allowlist(engine.agents[1].ctx) if d.get("direction") == "inbound"]
    assert [(d["destination"], d["local_port"]) for d in learnt] == [(f"127.0.0.5:{EPH}", 8000)]
    # the same peer pulling from a listener the baseline never saw serve it: judged
    out = _l4(engine.on_events([_reply("127.0.0.5", EPH + 4, T + 2, own=False, lport=EPH + 50)]))
    assert [(a.key, a.evidence["local_port"]) for a in out] == [("127.0.0.5:ephemeral", EPH + 50)]
    # a peer served in the baseline allows replies to it, not connects OUT to it
    assert [a.key for a in _l4(engine.on_events([_net("connect", "127.0.0.5", 8443, T + 5)]))] == [
        "127.0.0.5:8443"
    ]


def test_strict_mode_judges_a_peer_during_the_baseline() -> None:
    engine = Engine(
        EngineConfig(read_proc=False, channel_settings={"L4": {"allow_baseline_destinations": False}}),
        [ms.AGENT_INFO],
    )
    b = ms.make("benign", seconds=2)[0]
    out = _l4(engine.on_events([_reply("127.0.0.5", EPH, b.t0_ns + 1, own=False)]))
    assert [a.key for a in out] == ["127.0.0.5:ephemeral"]


def test_a_raw_packet_is_judged_by_its_own_ip_header() -> None:
    """IP_HDRINCL: the record carries the header's destination; the evidence says so."""
    engine = _engine(channel_settings={"L4": {"allow": ["127.0.0.1"]}})
    out = _l4(
        engine.on_events(
            [
                _net("sendto", "127.0.7.9", 5555, T, ip_header=True),
                _net("sendmmsg", "0.0.0.0", 0, T + 1, ip_header=True, count=3),  # header not read
            ]
        )
    )
    # a raw socket's packet is keyed "raw:" (session 13, per protocol): no TCP or UDP rule allows it
    assert [a.key for a in out] == ["raw:127.0.7.9:5555", "raw:0.0.0.0:0"]
    assert all(a.evidence["ip_header"] is True for a in out)
