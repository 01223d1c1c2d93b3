"""What a baseline learns without an operator rule is signed, not silent (red-team round 6).

``g1r6_baseline_held_socket`` connected to a new destination while the sensor learnt and sent
the secret on that socket after: L4 allows destinations seen in the baseline, so nothing alerts.
The sensor now lists, when an agent's baseline ends, the destinations it learnt that no
allowlist rule covers (engine notice ``details``), and the live alert path signs them into the
chain as a ``BASELINE_LEARNT`` lifecycle record (not an alert).  The synthetic agent's journal
(tests/journals/make_synthetic.py) talks to 127.0.0.1:8080 and 127.0.0.53:53 only.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from h7.batch import Batch
from h7.cal import CalWriter, keygen, verify_file
from h7.cal.chain import verify_chain
from h7.cal.format import BASELINE_LEARNT, LIFECYCLE_ACTIONS
from h7.cal.lifecycle import sensor_identity
from h7.config import EngineConfig
from h7.detect.agents import Notice
from h7.detect.engine import Engine

JOURNALS = Path(__file__).parent / "journals"
sys.path.insert(0, str(JOURNALS))
import make_synthetic as ms  # noqa: E402

NS = 10**9
ALLOW = ms.ALLOW


def _run(allow: list[str], extra_dest: tuple[str, int] | None) -> list[Notice]:
    batches = ms.make("benign", seconds=40)
    if extra_dest is not None:
        b = batches[5]
        ev = copy.deepcopy(next(e for e in b.events if e.get("type") == "net"))
        ev.update(addr=extra_dest[0], port=extra_dest[1], ts_ns=b.t0_ns + 1000, op="connect")
        batches[5] = Batch(b.t0_ns, b.t1_ns, b.syscalls, [*b.events, ev], b.stats, dict(b.drops))
    cfg = EngineConfig(read_proc=False, channel_settings={"L4": {"allow": allow}})
    engine = Engine(cfg, [ms.AGENT_INFO])
    for b in batches:
        engine.process(b)
    return [n for n in engine.take_notices() if n.kind == "baseline-complete"]


def test_a_destination_connected_during_the_baseline_outside_the_allowlist_is_listed() -> None:
    (n,) = _run(ALLOW, ("127.0.6.9", 40001))
    assert [d["destination"] for d in n.details["L4"]] == ["127.0.6.9:40001"]
    assert n.details["L4"][0]["pid"] > 0
    # what is allowed from now on, as the allowlist spells it: port 40001 is one of the host's
    # ephemeral ports, which never form a key of their own (issue 12)
    assert n.details["L4"][0]["learnt"] == "127.0.6.9:ephemeral"
    assert "learnt outside the allowlist: L4 127.0.6.9:ephemeral" in n.message


def test_nothing_is_listed_when_the_allowlist_covers_the_baseline() -> None:
    (n,) = _run(ALLOW, None)
    assert n.details == {}
    (n2,) = _run([*ALLOW, "127.0.6.0/24"], ("127.0.6.9", 40001))
    assert n2.details == {}
    # without any allowlist, what the agent talks to is exactly what is listed
    (n3,) = _run([], None)
    assert sorted(d["destination"] for d in n3.details["L4"]) == ["127.0.0.1:8080", "127.0.0.53:53"]
    assert sorted(d["learnt"] for d in n3.details["L4"]) == ["127.0.0.1:8080", "127.0.0.53:53"]


def test_the_record_is_signed_into_the_chain_and_verifies(tmp_path: Path) -> None:
    _priv, pub = keygen(tmp_path / "keys")
    w = CalWriter(tmp_path / "cal", tmp_path / "keys" / "h7.key")
    (n,) = _run(ALLOW, ("127.0.6.9", 40001))
    path, _ = w.record_lifecycle(BASELINE_LEARNT, sensor_identity(), "baseline learnt", {"learnt": n.details})
    body = verify_file(path, pub).body
    assert BASELINE_LEARNT in LIFECYCLE_ACTIONS and body["action"] == BASELINE_LEARNT
    assert body["details"]["learnt"]["L4"][0]["destination"] == "127.0.6.9:40001"
    rep = verify_chain(tmp_path / "cal", pub)
    assert not rep.breaks and [r.action for r in rep.lifecycle] == [BASELINE_LEARNT]
    # `h7 verify DIR` prints it: what the baseline allowed, for the operator to review
    assert any("L4 127.0.6.9:ephemeral" in line and "unreviewed" in line for line in rep.lifecycle_lines())


def test_the_live_alert_path_signs_it_at_the_notice(tmp_path: Path) -> None:
    """The pipeline's AlertPath (the live sensor's writer) turns the notice into the record."""
    from h7.pipeline import AlertPath, Terminal

    _priv, pub = keygen(tmp_path / "keys")
    out = AlertPath(
        tmp_path / "cal",
        tmp_path / "keys" / "h7.key",
        tmp_path / "no-sinkhole.sock",
        tmp_path / "spool",
        spool_max_bytes=1 << 20,
        max_held=16,
        term=Terminal(False),
    )
    (n,) = _run(ALLOW, ("127.0.6.9", 40001))
    out.baseline_learnt(n)
    bodies = [verify_file(p, pub).body for p in sorted((tmp_path / "cal").glob("*.cal"))]
    assert [b["action"] for b in bodies] == [BASELINE_LEARNT]
    d = bodies[0]["details"]
    assert (
        d["agent_id"] == ms.AGENT_INFO.agent_id and d["learnt"]["L4"][0]["destination"] == "127.0.6.9:40001"
    )
    assert "allow_baseline_destinations = false" in d["review"]


def test_strict_mode_certifies_the_baseline_connect_when_it_happens() -> None:
    """allow_baseline_destinations = false: the round-6 prime connect is UNKNOWN_DESTINATION at once."""
    batches = ms.make("benign", seconds=40)
    b = batches[5]
    ev = copy.deepcopy(next(e for e in b.events if e.get("type") == "net"))
    ev.update(addr="127.0.6.9", port=40001, ts_ns=b.t0_ns + 1000, op="connect")
    batches[5] = Batch(b.t0_ns, b.t1_ns, b.syscalls, [*b.events, ev], b.stats, dict(b.drops))
    cfg = EngineConfig(
        read_proc=False, channel_settings={"L4": {"allow": ALLOW, "allow_baseline_destinations": False}}
    )
    engine = Engine(cfg, [ms.AGENT_INFO])
    alerts = [a for k in range(6) for a in engine.process(batches[k])]
    l4 = [a for a in alerts if a.channel == "L4"]
    assert [a.code for a in l4] == ["UNKNOWN_DESTINATION"] and l4[0].ts_ns == ev["ts_ns"], l4
    assert engine.phase == "baseline"
    for b in batches[6:]:
        engine.process(b)
    (n,) = [n for n in engine.take_notices() if n.kind == "baseline-complete"]
    assert n.details == {}  # nothing was learnt: nothing to sign
