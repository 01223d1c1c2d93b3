"""Alert folding: one certificate per new key, storms collapsed and counted, operator accept.

Engine-level (the same engine the live sensor drives); the live counterparts
with real sockets and real certificates are in test_live_semantics.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from h7.alert import Alert
from h7.batch import Batch
from h7.config import EngineConfig
from h7.detect.channels.l4_egress import L4Settings, dest_key, host_ephemeral_range, parse_allow
from h7.detect.engine import Engine
from h7.detect.folding import AgentFolder

JOURNALS = Path(__file__).parent / "journals"
sys.path.insert(0, str(JOURNALS))
import make_synthetic as ms  # noqa: E402

NS = 10**9
BASE = ms.ENGINE_BASE


def monitoring(**cfg: Any) -> Engine:
    return ms.baselined_engine(EngineConfig(**{**BASE, **cfg}))


def net(ts: int, addr: str, port: int = 443, op: str = "connect") -> dict[str, Any]:
    """A connect (or send) of the agent's HTTP thread, as the sensor decodes it (a TCP socket)."""
    return ms.net_event(op, addr, port, ts, tid=ms.HTTP_TID, uid=ms.UID, protocol="tcp")


class Clock:
    """Feeds an engine events and empty batches on a kernel-time clock, like the sensor."""

    def __init__(self, eng: Engine) -> None:
        self.eng = eng
        self.t0 = eng.t_last
        self.alerts: list[Alert] = []

    def until(self, t_ns: int) -> None:
        """Close every batch that ends at or before t_ns."""
        while self.t0 + NS <= t_ns:
            self.alerts += self.eng.end_batch(Batch(self.t0, self.t0 + NS))
            self.t0 += NS

    def events(self, evs: list[dict[str, Any]]) -> None:
        for ev in evs:
            self.until(int(ev["ts_ns"]))
            self.alerts += self.eng.on_events([ev])


def test_a_new_destination_in_use_gives_one_certificate() -> None:
    """Issue 12: one new site used every 5 s gave an alert every 10 s forever; now one."""
    eng = monitoring()
    c = Clock(eng)
    start = c.t0 + NS // 2
    c.events([net(start + k * 5 * NS, "10.9.9.9") for k in range(120)])  # 10 minutes of use
    c.until(start + 600 * NS)
    assert [(a.code, a.key, a.suppressed) for a in c.alerts] == [("UNKNOWN_DESTINATION", "10.9.9.9:443", 0)]
    st = eng.status()["agents"][ms.AGENT_INFO.agent_id]["folding"]
    assert st["folded"] == 119 and st["keys_in_use"] == 1
    # Idle for longer than fold_idle (10 min), then back: reported again, with the count.
    back = start + 119 * 5 * NS + 601 * NS
    c.events([net(back, "10.9.9.9")])
    assert [(a.key, a.suppressed) for a in c.alerts[1:]] == [("10.9.9.9:443", 119)]
    totals = eng.folding_totals()  # what the signed stop record carries
    assert totals["verdicts_folded"] == 119 and totals["folds_not_in_a_certificate"] == 0
    assert c.alerts[1].evidence["folding"]["repeats_of_this_key_since_its_last_certificate"] == 119


def test_other_keys_still_alert_and_certificates_say_what_the_channel_folded() -> None:
    eng = monitoring()
    c = Clock(eng)
    t = c.t0 + NS // 2
    c.events([net(t + k * 1000, "10.9.9.9") for k in range(7)])
    c.events([net(t + 10_000, "10.8.8.8")])
    assert [a.key for a in c.alerts] == ["10.9.9.9:443", "10.8.8.8:443"]
    assert c.alerts[1].evidence["folding"]["channel_repeats_folded_since_last_certificate"] == 6


def test_ephemeral_ports_never_form_a_destination_key() -> None:
    lo, hi = host_ephemeral_range()
    eng = monitoring()
    c = Clock(eng)
    t = c.t0 + NS // 2
    c.events([net(t + k * 1000, "127.0.0.9", lo + k, op="sendto") for k in range(50)])
    c.events([net(t + 60_000, "127.0.0.9", 5432)])  # a service port is its own destination
    assert [a.key for a in c.alerts] == ["127.0.0.9:ephemeral", "127.0.0.9:5432"]
    assert c.alerts[0].evidence["port"] == lo  # the certificate quotes the real port
    assert c.alerts[1].evidence["folding"]["channel_repeats_folded_since_last_certificate"] == 49
    import ipaddress

    ip = ipaddress.ip_address("10.0.0.1")
    assert dest_key(ip, hi, (lo, hi)) == "10.0.0.1:ephemeral"
    assert dest_key(ip, lo - 1, (lo, hi)) == f"10.0.0.1:{lo - 1}"
    assert dest_key(ipaddress.ip_address("::1"), 443, (lo, hi)) == "[::1]:443"
    (r,) = parse_allow(["127.0.0.1:ephemeral"], resolve=False)
    assert r.matches(ipaddress.ip_address("127.0.0.1"), lo, (lo, hi))
    assert not r.matches(ipaddress.ip_address("127.0.0.1"), 443, (lo, hi))


def test_ephemeral_range_from_config(tmp_path: Path) -> None:
    eng = monitoring(
        channel_settings={"L4": {**BASE["channel_settings"]["L4"], "ephemeral_ports": [2000, 3000]}}
    )
    c = Clock(eng)
    t = c.t0 + NS // 2
    c.events([net(t, "10.1.1.1", 2500), net(t + 1, "10.1.1.1", 2600), net(t + 2, "10.1.1.1", 40000)])
    assert [a.key for a in c.alerts] == ["10.1.1.1:ephemeral", "10.1.1.1:40000"]
    f = tmp_path / "range"
    f.write_text("1024\t2048\n")
    assert host_ephemeral_range(str(f)) == (1024, 2048)
    f.write_text("garbage\n")
    assert host_ephemeral_range(str(f)) == (32768, 60999)


def test_storm_collapses_into_one_counted_certificate_per_channel_per_batch() -> None:
    """Issue 12: 50,000 distinct destinations in 1.2 s gave 2,778 certificates."""
    eng = monitoring()
    c = Clock(eng)
    t = c.t0 + NS // 10
    n = 50_000
    step = int(1.2 * NS) // n
    evs = [net(t + i * step, f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 443) for i in range(n)]
    c.events(evs)
    c.until(t + 3 * NS)
    storms = [a for a in c.alerts if a.key == "storm:L4"]
    single = [a for a in c.alerts if a.key != "storm:L4"]
    batches = 2  # the storm spans two batches (0.1-1.0 s and 1.0-1.3 s)
    # per batch: storm_burst individual certificates, then the channel's aggregate, which
    # closes early once a verdict comes storm_window (0.5 s) after its first one
    assert len(storms) == 3
    assert len(single) == 5 * batches
    assert len(c.alerts) <= 10 * batches  # bounded: ~10 certificates/s per agent
    # Nothing dropped silently: every verdict is a certificate or counted in one.
    assert len(single) + sum(a.evidence["storm"]["alerts"] for a in storms) == n
    assert sum(a.suppressed + 1 for a in storms) + len(single) == n
    for a in storms:
        s = a.evidence["storm"]
        assert s["by_code"] == {"UNKNOWN_DESTINATION": s["alerts"]}
        assert len(s["sample_keys"]) == 10 and all(k.endswith(":443") for k in s["sample_keys"])
        assert s["window_ns"][1] - s["window_ns"][0] < NS // 2  # storm_window at most
    # Repeats of the storm's keys later fold instead of alerting again (the most recent
    # fold_max_keys of them: memory is bounded, the older ones were forgotten and counted).
    assert eng.status()["agents"][ms.AGENT_INFO.agent_id]["folding"]["evicted_keys"] == n - 16384
    before = len(c.alerts)
    c.events([net(c.t0 + k, ev["addr"]) for k, ev in enumerate(evs[-1000:])])
    c.until(c.t0 + 2 * NS)
    assert len(c.alerts) == before


def test_storm_on_another_channel_collapses_too() -> None:
    """Any channel: a burst of distinct exec verdicts (L2) collapses the same way."""
    folder = AgentFolder(idle_ns=600 * NS, burst=5, sample=3)
    out: list[Alert] = []
    for i in range(40):
        out += folder.admit(
            Alert("L2", "LIVING_OFF_THE_LAND", "a:1:2", 1000 + i, 1.0, 1.0, f"/usr/bin/tool{i}", {})
        )
    out += folder.flush(2000)
    assert [a.key for a in out[:5]] == [f"/usr/bin/tool{i}" for i in range(5)]
    (agg,) = out[5:]
    assert agg.key == "storm:L2" and agg.evidence["storm"]["alerts"] == 35
    assert agg.evidence["storm"]["sample_keys"] == ["/usr/bin/tool5", "/usr/bin/tool6", "/usr/bin/tool7"]
    assert folder.status()["held_in_storms"] == 35


def test_fold_memory_is_bounded() -> None:
    folder = AgentFolder(idle_ns=600 * NS, burst=0, max_keys=100)
    for i in range(1000):
        folder.admit(Alert("L4", "UNKNOWN_DESTINATION", "a:1:2", i, 1.0, 1.0, f"k{i}", {}))
    st = folder.status()
    assert st["keys_in_use"] == 100 and st["evicted_keys"] == 900


def test_operator_accept_stops_alerts_for_that_destination() -> None:
    eng = monitoring()
    c = Clock(eng)
    t = c.t0 + NS // 2
    c.events([net(t, "10.9.9.9")])
    assert len(c.alerts) == 1
    assert eng.accept(ms.AGENT_INFO.agent_id, "L4", "10.9.9.9:443") == 1
    assert eng.status()["agents"][ms.AGENT_INFO.agent_id]["folding"]["keys_in_use"] == 0
    # long after the fold window: still accepted, so still quiet
    c.events([net(t + 700 * NS, "10.9.9.9")])
    c.events([net(t + 701 * NS, "10.9.9.9", 80)])  # another port is another destination
    assert [a.key for a in c.alerts] == ["10.9.9.9:443", "10.9.9.9:80"]
    assert eng.accept("someone-else:1:1", "L4", "10.9.9.9:80") == 0
    with pytest.raises(Exception, match="only L4 destinations and L2 alert keys"):
        eng.accept("*", "L3", "structure")


def test_fold_and_storm_config_keys() -> None:
    c = EngineConfig.from_dict({"fold_idle": "2m", "storm_burst": 3, "l4": {"ephemeral_ports": [1, 2]}})
    assert (
        c.fold_idle_ns == 120 * NS and c.storm_burst == 3 and c.settings(L4Settings).ephemeral_ports == [1, 2]
    )
    assert EngineConfig.from_dict({"rate_limit": "0s"}).fold_idle_ns == 0  # the old name
    with pytest.raises(Exception, match="storm_burst"):
        EngineConfig(storm_burst=-1)


def test_inbound_replies_are_not_egress_and_do_not_hide_a_later_connect() -> None:
    """knet marks sends on accepted sockets ``inbound``; the verdict cache must not
    let such a reply make the same address:port look allowed for a real connect."""
    eng = monitoring()
    c = Clock(eng)
    t = c.t0 + NS // 2
    c.events([{**net(t + k, "10.7.7.7", 40000 + k, op="sendto"), "inbound": True} for k in range(20)])
    assert c.alerts == []
    c.events([net(t + 100, "10.7.7.7", 40000)])
    assert [a.key for a in c.alerts] == ["10.7.7.7:ephemeral"]


def _drift(ts: int, div: float, thr: float = 10.0) -> Alert:
    return Alert("L3", "STRUCTURAL_DRIFT", "a:1:2", ts, div, thr, "structure", {})


def test_a_channel_wide_key_folds_per_episode_and_a_stronger_episode_is_certified() -> None:
    """eval: a second attack seen only as structural drift a minute after the first was folded
    into the first's certificate (key `structure`, fold_idle 10 min).  Per-batch verdicts now
    fold only within an episode (gaps < fold_gap), and a verdict twice as strong as the one
    its key was certified with is certified again."""
    gap = 30 * NS
    f = AgentFolder(idle_ns=600 * NS, burst=5, escalation=2.0)
    certified = []
    for t in range(5):  # one episode: consecutive batches
        certified += f.admit(_drift(t * NS, 11.0), idle_ns=gap)
        f.flush(t * NS)
    assert [a.ts_ns for a in certified] == [0]
    # quiet for 60 s, then drift again: a new episode, certified with the count of the first
    again = f.admit(_drift(65 * NS, 11.5), idle_ns=gap)
    assert [(a.ts_ns, a.suppressed) for a in again] == [(65 * NS, 4)]
    # within this episode, a much stronger verdict is a new finding; a merely larger one is not
    assert f.admit(_drift(66 * NS, 20.0), idle_ns=gap) == []  # 2.0 < 2 x 1.15
    strong = f.admit(_drift(67 * NS, 24.0), idle_ns=gap)
    assert [a.divergence for a in strong] == [24.0] and f.status()["escalated"] == 1
    # discrete keys (destinations) keep fold_idle: an hour of use with 5-minute gaps is one alert
    g = AgentFolder(idle_ns=600 * NS, burst=5, escalation=2.0)
    dest = [
        g.admit(Alert("L4", "UNKNOWN_DESTINATION", "a:1:2", t * 300 * NS, 1.0, 1.0, "10.0.0.1:443", {}))
        for t in range(12)
    ]
    assert sum(len(x) for x in dest) == 1


def test_fold_gap_and_escalation_config() -> None:
    c = EngineConfig.from_dict({"fold_gap": "5s", "fold_escalation": 3})
    assert c.fold_gap_ns == 5 * NS and c.fold_escalation == 3.0
    with pytest.raises(Exception, match="fold_escalation"):
        EngineConfig(fold_escalation=0.5)
