"""L4 keys, allow rules and learnt destinations are per transport protocol (red-team round 10's class).

``g1r10_udp_to_allowed_api_port`` (held out) sent datagrams to the address and port of an allowed
TCP API and matched its rule.  The net record now names the sending socket's protocol
(``protocol``, from ``h7_net.proto``/``stype``; tests/test_live_l4_protocol.py pins it with real
BPF); here the allowlist parser, the keys and the channel's verdicts on such events, and what a
record without a protocol (a journal recorded before) is judged as.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Any

import pytest

from h7.config import EngineConfig
from h7.decode import protocol_name
from h7.detect.channels.l4_egress import EgressChannel, dest_key, event_protocol, parse_allow, split_protocol
from h7.detect.engine import Engine
from h7.errors import UsageError

sys.path.insert(0, str(Path(__file__).parent / "journals"))
import make_synthetic as ms

NS = 10**9
T = ms.T0 + 40 * NS
EPH = (32768, 60999)
LO = ipaddress.ip_address("127.0.0.1")


def _net(op: str, addr: str, port: int, ts: int, proto: str | None, **kw: Any) -> dict[str, Any]:
    ev = ms.net_event(
        op, addr, port, ts, hook="cgroup/sendmsg4" if op != "connect" else "cgroup/connect4", **kw
    )
    if proto is not None:
        ev["protocol"] = proto
    return ev


def _keys(engine: Engine, events: list[dict[str, Any]]) -> list[str]:
    return [a.key for a in engine.on_events(events) if a.code == "UNKNOWN_DESTINATION"]


# -- the allowlist parser ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "proto", "allows", "refuses"),
    [
        ("127.0.0.1:8080", "tcp", [("tcp", "127.0.0.1", 8080)], [("udp", "127.0.0.1", 8080)]),
        ("udp:*:53", "udp", [("udp", "10.9.8.7", 53)], [("tcp", "10.9.8.7", 53), ("udp", "10.9.8.7", 54)]),
        ("tcp:[::1]:443", "tcp", [("tcp", "::1", 443)], [("udp", "::1", 443), ("tcp", "::2", 443)]),
        ("any:10.0.0.0/8", "any", [("udp", "10.1.2.3", 9), ("raw", "10.1.2.3", 0)], [("tcp", "11.0.0.1", 9)]),
        ("UDP:127.0.0.53:53", "udp", [("udp", "127.0.0.53", 53)], [("tcp", "127.0.0.53", 53)]),
        ("sctp:127.0.0.1:ephemeral", "sctp", [("sctp", "127.0.0.1", 40000)], [("sctp", "127.0.0.1", 80)]),
        ("fd00::/8", "tcp", [("tcp", "fd00::1", 1)], [("udp", "fd00::1", 1)]),  # a hex group, no prefix
        ("10.0.0.0/8", "tcp", [("tcp", "10.0.0.1", 22)], [("icmp", "10.0.0.1", 0)]),
    ],
)
def test_a_rule_allows_its_own_protocol_only(
    entry: str, proto: str, allows: list[tuple[str, str, int]], refuses: list[tuple[str, str, int]]
) -> None:
    rules = parse_allow([entry], resolve=False)
    assert {r.proto for r in rules} == {proto}
    for p, a, port in allows:
        assert any(r.matches(ipaddress.ip_address(a), port, EPH, p) for r in rules), (entry, p, a, port)
    for p, a, port in refuses:
        assert not any(r.matches(ipaddress.ip_address(a), port, EPH, p) for r in rules), (entry, p, a, port)


def test_a_bare_entry_takes_the_callers_default_protocol() -> None:
    """An operator accept signed before records named a protocol is applied protocol-blind."""
    (r,) = parse_allow(["10.0.0.5:443"], resolve=False, default_proto="any")
    assert r.matches(ipaddress.ip_address("10.0.0.5"), 443, EPH, "udp")
    (r,) = parse_allow(["udp:10.0.0.5:443"], resolve=False, default_proto="any")  # a prefix wins
    assert r.proto == "udp"


@pytest.mark.parametrize(
    ("entry", "msg"),
    [
        ("icmp6:1.2.3.4:80", "unknown protocol 'icmp6'"),
        ("quic:[::1]:443", "unknown protocol 'quic'"),
        ("udp:", "nothing after the protocol"),
        ("udp:1.2.3.4:http", "bad port"),
        ("udp:1.2.3.4:70000", "port out of range"),
        ("tcp:not-an-address:1", "not an address"),
    ],
)
def test_a_bad_entry_is_one_clear_line(entry: str, msg: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_allow([entry], resolve=False)
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_host_names_and_ports_are_not_protocols() -> None:
    assert split_protocol("localhost:8080") == (None, "localhost:8080")
    assert split_protocol("[::1]:443") == (None, "[::1]:443")
    assert split_protocol("cafe::1") == (None, "cafe::1")
    assert split_protocol("udp:127.0.0.1:ephemeral") == ("udp", "127.0.0.1:ephemeral")
    assert split_protocol("ip47:10.0.0.1:0") == ("ip47", "10.0.0.1:0")  # an alert key's spelling


# -- keys and the kernel's numbers ---------------------------------------------------------


def test_keys_spell_the_protocol_as_the_allowlist_does() -> None:
    assert dest_key(LO, 8080, EPH) == "127.0.0.1:8080"
    assert dest_key(LO, 8080, EPH, proto="udp") == "udp:127.0.0.1:8080"
    assert dest_key(ipaddress.ip_address("::1"), 40000, EPH, proto="sctp") == "sctp:[::1]:ephemeral"


@pytest.mark.parametrize(
    ("proto", "stype", "name"),
    [(6, 1, "tcp"), (262, 1, "tcp"), (17, 2, "udp"), (136, 2, "udplite"), (132, 5, "sctp"), (132, 1, "sctp"),
     (1, 2, "icmp"), (58, 2, "icmp"), (17, 3, "raw"), (255, 3, "raw"), (0, 3, "raw"), (47, 2, "ip47"),
     (0, 0, "unknown")],
)  # fmt: skip
def test_protocol_names_from_the_kernels_numbers(proto: int, stype: int, name: str) -> None:
    assert protocol_name(proto, stype) == name


def test_a_record_without_a_protocol_is_inferred_from_what_it_does() -> None:
    """Journals recorded before the kernel reported the protocol (eval/replay.py replays them)."""
    ev = ms.net_event
    assert event_protocol(ev("connect", "10.0.0.1", 443, 1)) == "tcp"
    assert event_protocol(ev("sendto", "10.0.0.1", 53, 1)) == "udp"  # it names its own address
    assert event_protocol(ev("sendmmsg", "10.0.0.1", 53, 1)) == "udp"
    assert event_protocol(ev("write", "10.0.0.1", 443, 1, from_socket=True)) == "tcp"  # a connected socket
    assert event_protocol(ev("sendto", "10.0.0.1", 9, 1, inbound=True)) == "tcp"  # a reply on an accepted one
    assert event_protocol(ev("sendto", "10.0.0.1", 9, 1, ip_header=True)) == "raw"
    assert event_protocol({**ev("sendto", "10.0.0.1", 53, 1), "protocol": "sctp"}) == "sctp"  # the kernel's


# -- the channel ---------------------------------------------------------------------------


def _engine(allow: list[str], baseline: list[dict[str, Any]] = ()) -> Engine:  # type: ignore[assignment]
    cfg = EngineConfig(read_proc=False, channel_settings={"L4": {"allow": allow}})
    return ms.baselined_engine(cfg, added={3: list(baseline)})


def test_a_datagram_to_an_allowed_tcp_api_is_unknown_and_the_api_is_not() -> None:
    engine = _engine(["127.0.0.1:8080"])
    out = _keys(
        engine,
        [
            _net("connect", "127.0.0.1", 8080, T, "tcp"),
            _net("sendto", "127.0.0.1", 8080, T + 1, "udp", bytes=64),
            _net("sendto", "127.0.0.1", 8080, T + 2, "udplite", bytes=64),
        ],
    )
    assert out == ["udp:127.0.0.1:8080", "udplite:127.0.0.1:8080"]


def test_a_udp_rule_allows_datagrams_and_not_a_tcp_connect() -> None:
    engine = _engine(["udp:10.53.0.1:53"])
    out = _keys(
        engine, [_net("sendto", "10.53.0.1", 53, T, "udp"), _net("connect", "10.53.0.1", 53, T + 1, "tcp")]
    )
    assert out == ["10.53.0.1:53"]


def test_a_baseline_learnt_destination_allows_its_own_protocol_only() -> None:
    engine = _engine([], baseline=[_net("sendto", "10.20.30.40", 5353, ms.T0 + 3 * NS + 7, "udp")])
    (ch,) = [c for c in engine.agents[1].channels if isinstance(c, EgressChannel)]
    learnt = [
        d for d in ch.learnt_outside_allowlist(engine.agents[1].ctx) if "10.20.30.40" in d["destination"]
    ]
    assert [(d["protocol"], d["learnt"]) for d in learnt] == [("udp", "udp:10.20.30.40:5353")]
    assert _keys(engine, [_net("sendto", "10.20.30.40", 5353, T, "udp")]) == []
    assert _keys(engine, [_net("connect", "10.20.30.40", 5353, T + 1, "tcp")]) == ["10.20.30.40:5353"]


def test_a_saved_baseline_from_before_allows_tcp_and_udp_as_it_did() -> None:
    engine = _engine([], baseline=[_net("connect", "10.20.30.41", 443, ms.T0 + 3 * NS + 7, "tcp")])
    (ch,) = [c for c in engine.agents[1].channels if isinstance(c, EgressChannel)]
    state = ch.to_state()
    assert state["per_protocol"] is True and "10.20.30.41/32|443" in state["baseline_dests"]
    ch.from_state({k: v for k, v in state.items() if k != "per_protocol"})  # as saved before
    assert ch.allowed(ipaddress.ip_address("10.20.30.41"), 443, proto="udp") == "seen in baseline"
    assert ch.allowed(ipaddress.ip_address("10.20.30.41"), 443, proto="sctp") is None
    ch.from_state(state)  # saved now: per protocol
    assert ch.allowed(ipaddress.ip_address("10.20.30.41"), 443, proto="udp") is None


def test_an_accept_forgets_the_keys_of_its_protocol_only() -> None:
    """The folder's in-use keys: a TCP accept must not silence the datagrams' key."""
    engine = _engine([])
    assert _keys(
        engine, [_net("connect", "10.9.9.9", 8443, T, "tcp"), _net("sendto", "10.9.9.9", 8443, T + 1, "udp")]
    )
    (ch,) = [c for c in engine.agents[1].channels if isinstance(c, EgressChannel)]
    (rule,) = parse_allow(["10.9.9.9:8443"], resolve=False)
    match = ch.key_matcher(rule)
    assert match("10.9.9.9:8443") and not match("udp:10.9.9.9:8443")
