"""L4: a frame sent on an AF_PACKET socket is egress to a link (red-team round 4's g1r4_packet_socket_udp).

The kernel reports such sends with family ``packet`` and ``addr`` ``ifindex:N``
(tests/test_sensor_gaps.py checks that side live); here the channel's verdicts
on those events: unknown unless the agent did the same during its baseline.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from h7.alert import Alert
from h7.config import EngineConfig
from h7.detect.engine import Engine

sys.path.insert(0, str(Path(__file__).parent / "journals"))
import make_synthetic as ms

NS = 10**9
BASE: dict[str, Any] = {"read_proc": False, "channel_settings": {"L4": {"allow": ["0.0.0.0/0"]}}}


def _packet(ts: int, ifindex: int = 1, proto: int = 0x0800) -> dict[str, object]:
    return ms.net_event("sendto", f"ifindex:{ifindex}", proto, ts, family="packet", bytes=60)


def _engine(baseline_packet: bool) -> Engine:
    packet = [_packet(ms.T0 + 4 * NS - 1)] if baseline_packet else []  # the end of baseline batch 3
    return ms.baselined_engine(EngineConfig(**BASE), added={3: packet})


def test_packet_frame_is_an_unknown_link_even_with_every_address_allowed() -> None:
    engine = _engine(baseline_packet=False)
    out: list[Alert] = engine.on_events([_packet(ms.T0 + 40 * NS)])
    assert [(a.channel, a.code, a.key) for a in out] == [("L4", "UNKNOWN_DESTINATION", "link:1:0x0800")]
    ev = out[0].evidence
    assert ev["family"] == "packet" and ev["addr"] == "ifindex:1" and ev["hook"] == "tp_btf/sys_enter"
    assert ev["destination"].startswith("link ") and "0x0800" in ev["destination"]


def test_link_used_during_the_baseline_is_known_and_another_is_not() -> None:
    engine = _engine(baseline_packet=True)
    assert engine.on_events([_packet(ms.T0 + 40 * NS)]) == []
    other = engine.on_events([_packet(ms.T0 + 41 * NS, proto=0x88B5)])
    assert [a.key for a in other] == ["link:1:0x88b5"]
