"""Per-agent baselines: agents attached over time each get their own window, then all channels.

A fleet sensor (``h7 attach --exe/--pid-file/--cgroup``) adds agents as they
appear.  These tests build multi-agent timelines from the seeded synthetic
agent of tests/journals/make_synthetic.py: each agent's 45-s journal (30-s
baseline, scenario at its own t = 36 s) is relabelled to another agent
number and pid range and shifted to start when that agent is added, then
merged batch by batch with the others.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

from h7.alert import Alert
from h7.batch import AgentInfo, Batch
from h7.config import EngineConfig
from h7.detect.engine import (
    PHASE_BASELINE,
    PHASE_DROPPED,
    PHASE_MONITORING,
    PHASE_WAITING,
    AgentExitedDuringBaseline,
    AgentIdleDuringBaseline,
    Engine,
)
from h7.errors import UsageError

JOURNALS = Path(__file__).parent / "journals"
sys.path.insert(0, str(JOURNALS))
import make_synthetic as ms  # noqa: E402

NS = 10**9
BASE = ms.ENGINE_BASE
PID_FIELDS = ("pid", "tid", "ppid", "child", "target", "target_pid")


def info(agent: int, exe: str = "/usr/bin/python3.11") -> AgentInfo:
    """The synthetic agent under agent number ``agent``, its pids moved up by 10000 per number."""
    if agent == 1:
        return AgentInfo(1, ms.AGENT_INFO.agent_id, ms.ROOT, exe, list(ms.AGENT_INFO.cmdline), 0)
    root = ms.ROOT + 10_000 * (agent - 1)
    return AgentInfo(agent, f"python3:{root}:{agent}", root, exe, ["python3", "-m", "agent"], agent)


def relabel(batches: list[Batch], agent: int, shift_s: int) -> list[Batch]:
    """One synthetic agent's batches as agent ``agent``, starting ``shift_s`` seconds later."""
    dpid, dt = 10_000 * (agent - 1), shift_s * NS
    out = []
    for b in batches:
        s = b.syscalls.copy()
        s["agent"] = agent
        s["tgid"] += dpid
        s["tid"] += dpid
        s["ts_ns"] += np.uint64(dt)
        evs = []
        for e in copy.deepcopy(b.events):
            e["ts_ns"] += dt
            if e.get("agent"):
                e["agent"] = agent
            if e.get("target_agent"):
                e["target_agent"] = agent
            for f in PID_FIELDS:
                if isinstance(e.get(f), int) and e[f] > 1000:
                    e[f] += dpid
            evs.append(e)
        stats = {agent: b.stats[ms.AGENT].copy()} if ms.AGENT in b.stats else {}
        out.append(Batch(b.t0_ns + dt, b.t1_ns + dt, s, evs, stats, dict(b.drops)))
    return out


def merge(n: int, *streams: list[Batch]) -> list[Batch]:
    """``n`` one-second batches from T0 holding every stream's activity in that second."""
    out = [Batch(ms.T0 + k * NS, ms.T0 + (k + 1) * NS, drops={"sys": 0, "events": 0}) for k in range(n)]
    for stream in streams:
        for b in stream:
            k = (b.t0_ns - ms.T0) // NS
            if 0 <= k < n:
                m = out[k]
                m.syscalls = np.concatenate([m.syscalls, b.syscalls])
                m.events = sorted(m.events + b.events, key=lambda e: e["ts_ns"])
                m.stats.update(b.stats)
    for m in out:
        m.syscalls = m.syscalls[np.argsort(m.syscalls["ts_ns"], kind="stable")]
    return out


def exit_event(ag: AgentInfo, ts: int) -> dict[str, object]:
    return {
        "type": "exit",
        "ts_ns": ts,
        "agent": ag.agent,
        "pid": ag.root_pid,
        "tid": ag.root_pid,
        "ppid": 1,
        "uid": 1000,
        "comm": "python3",
        "exit_status": 0,
        "signal": 0,
    }


def drive(
    engine: Engine, batches: list[Batch], joins: dict[int, AgentInfo]
) -> tuple[list[Alert], dict[int, tuple[str, float, dict[str, str]]]]:
    """Process batches, adding ``joins[k]`` after batch k-1 as the sensor does; record phases."""
    alerts: list[Alert] = []
    seen: dict[int, tuple[str, float, dict[str, str]]] = {}
    for k, b in enumerate(batches):
        if k in joins:
            engine.add_agent(joins[k])
        alerts.extend(engine.process(b))
        st = engine.status()
        seen[k] = (st["phase"], st["baseline_progress"], {a: v["phase"] for a, v in st["agents"].items()})
    return alerts, seen


def of(alerts: list[Alert], ag: AgentInfo) -> list[tuple[str, str]]:
    return [(a.channel, a.code) for a in alerts if a.agent_id == ag.agent_id]


def first_ts(alerts: list[Alert], ag: AgentInfo) -> int:
    return min(a.ts_ns for a in alerts if a.agent_id == ag.agent_id)


# -- agents attached over time --------------------------------------------------------
def test_agent_added_mid_baseline_gets_its_own_window_then_all_channels() -> None:
    a, b = info(1), info(2, "/usr/bin/node")
    a_stream = relabel(ms.make("benign", seconds=60), 1, 0)
    b_stream = relabel(ms.make("attack_recon"), 2, 10)  # added at 10 s: baseline 10-40 s, attack at 46 s
    engine = Engine(EngineConfig(**BASE), [a])
    alerts, seen = drive(engine, merge(56, a_stream, b_stream), {10: b})
    assert seen[9] == (PHASE_BASELINE, 0.3333, {a.agent_id: PHASE_BASELINE})
    # 30-40 s: a is monitored, b still learning, so the engine as a whole is not done yet.
    ph, prog, agents = seen[35]
    assert (ph, agents) == (PHASE_BASELINE, {a.agent_id: PHASE_MONITORING, b.agent_id: PHASE_BASELINE})
    assert prog == pytest.approx(26 / 30, abs=1e-3)  # the least advanced agent: b, 26 s in
    assert seen[38][0] == PHASE_BASELINE and seen[39][0] == PHASE_MONITORING  # batch 39 ends at 40 s
    # b's own model catches what only a model can: drift from the credential walk.
    assert ("L3", "STRUCTURAL_DRIFT") in of(alerts, b)
    assert first_ts(alerts, b) >= ms.T0 + 46 * NS
    assert of(alerts, a) == []
    st = engine.status()["agents"][b.agent_id]
    assert st["phase"] == PHASE_MONITORING and st["baseline_start_ns"] == ms.T0 + 10 * NS
    for ch in ("L1", "L2", "L3", "L4", "L5"):
        assert {"state", "divergence", "threshold"} <= set(st["channels"][ch])
    assert [st["channels"][ch]["state"] for ch in ("L1", "L3", "L4")] == ["monitoring"] * 3
    kinds = [(n.kind, n.agent_id) for n in engine.take_notices()]
    assert kinds == [("baseline-complete", a.agent_id), ("baseline-complete", b.agent_id)]
    assert engine.take_notices() == []


def test_agent_added_after_the_others_are_monitoring_is_baselined_not_left_model_free() -> None:
    a, b = info(1), info(2)
    a_stream = relabel(ms.make("benign", seconds=80), 1, 0)
    b_stream = relabel(ms.make("attack_burst"), 2, 35)  # added at 35 s: baseline 35-65 s, burst at 71 s
    engine = Engine(EngineConfig(**BASE), [a])
    alerts, seen = drive(engine, merge(80, a_stream, b_stream), {35: b})
    assert seen[34][0] == PHASE_MONITORING
    assert seen[35][0] == PHASE_BASELINE and seen[35][1] == pytest.approx(1 / 30, abs=1e-3)
    assert seen[63][0] == PHASE_BASELINE and seen[64][0] == PHASE_MONITORING  # batch 64 ends at 65 s
    assert of(alerts, b) == [("L4", "NET_EGRESS_BURST")]
    assert first_ts(alerts, b) >= ms.T0 + 71 * NS
    assert of(alerts, a) == []
    # b's burst threshold comes from its own baseline, not from an empty model
    l4 = engine.status()["agents"][b.agent_id]["channels"]["L4"]
    assert l4["state"] == "monitoring"


def test_no_agent_for_a_while_then_one_appears_and_is_baselined() -> None:
    ag = info(1)
    engine = Engine(EngineConfig(**BASE), [], strict=False)
    assert engine.phase == PHASE_WAITING and engine.baseline_progress() == 0.0
    stream = relabel(ms.make("attack_recon"), 1, 40)
    alerts, seen = drive(engine, merge(85, stream), {40: ag})
    assert all(seen[k][0] == PHASE_WAITING for k in range(40))  # 40 s alone: no idle error
    assert seen[40][0] == PHASE_BASELINE and seen[70][0] == PHASE_MONITORING
    assert ("L3", "STRUCTURAL_DRIFT") in of(alerts, ag)
    assert engine.status()["agents"][ag.agent_id]["baseline_start_ns"] == ms.T0 + 40 * NS


def test_strict_engine_with_no_agent_activity_still_refuses() -> None:
    engine = Engine(EngineConfig(**BASE), [])
    with pytest.raises(AgentIdleDuringBaseline, match="no agent activity at all"):
        for b in merge(31):
            engine.process(b)


# -- baselines that fail ----------------------------------------------------------------
def test_agent_exiting_during_its_baseline_in_watch_mode_is_dropped_others_keep_monitoring() -> None:
    a, b = info(1), info(2)
    a_stream = relabel(ms.make("attack_recon"), 1, 0)  # a: credential walk at 36 s
    b_stream = relabel(ms.make("benign", seconds=12), 2, 5)
    batches = merge(45, a_stream, b_stream)
    batches[15].events.append(exit_event(b, ms.T0 + 15 * NS + 500))  # 10 s into b's window
    engine = Engine(EngineConfig(**BASE), [a], strict=False)
    alerts, seen = drive(engine, batches, {5: b})
    notes = engine.take_notices()
    dropped = [n for n in notes if n.kind == "dropped"]
    assert len(dropped) == 1 and dropped[0].agent_id == b.agent_id and dropped[0].level == "warning"
    assert "exited 10.0s into the 30s baseline" in dropped[0].message
    assert "no longer watched" in dropped[0].message
    assert seen[14][2][b.agent_id] == PHASE_BASELINE and seen[15][2][b.agent_id] == PHASE_DROPPED
    # the engine's phase ignores the dropped agent: a completes at 30 s and the engine is monitoring
    assert seen[28][0] == PHASE_BASELINE and seen[29][0] == PHASE_MONITORING
    assert ("L3", "STRUCTURAL_DRIFT") in of(alerts, a)
    assert of(alerts, b) == []
    st = engine.status()
    assert st["agents"][b.agent_id]["dropped"].startswith(f"agent {b.agent_id} exited")
    assert any(n["kind"] == "dropped" for n in st["notices"])


def test_strict_engine_drops_one_of_two_and_raises_only_when_none_is_left() -> None:
    a, b = info(1), info(2)
    batches = merge(
        31, relabel(ms.make("benign", seconds=31), 1, 0), relabel(ms.make("benign", seconds=31), 2, 0)
    )
    batches[8].events.append(exit_event(b, ms.T0 + 8 * NS + 10))
    engine = Engine(EngineConfig(**BASE), [a, b])
    for bt in batches:
        engine.process(bt)
    assert engine.phase == PHASE_MONITORING
    assert [(n.kind, n.agent_id) for n in engine.take_notices() if n.level == "warning"] == [
        ("dropped", b.agent_id)
    ]
    # The last one going too is the run's end: the single-agent error, as before.
    engine2 = Engine(EngineConfig(**BASE), [a, b])
    batches[12].events.append(exit_event(a, ms.T0 + 12 * NS + 10))
    with pytest.raises(AgentExitedDuringBaseline, match=r"exited 12\.0s into the 30s baseline") as ei:
        for bt in batches:
            engine2.process(bt)
    assert ei.value.agent_id == a.agent_id


def test_idle_agent_in_watch_mode_restarts_its_baseline_then_monitors() -> None:
    ag = info(1)
    stream = relabel(ms.make("attack_recon"), 1, 30)  # idle for its first window, then works
    engine = Engine(EngineConfig(**BASE), [ag], strict=False)
    alerts, seen = drive(engine, merge(75, stream), {})
    notes = engine.take_notices()
    assert [n.kind for n in notes] == ["baseline-restarted", "baseline-complete"]
    assert "idle during the 30s baseline" in notes[0].message and notes[0].level == "warning"
    assert seen[29][0] == PHASE_BASELINE and seen[58][0] == PHASE_BASELINE and seen[59][0] == PHASE_MONITORING
    assert ("L3", "STRUCTURAL_DRIFT") in of(alerts, ag)
    st = engine.status()["agents"][ag.agent_id]
    assert st["baseline_restarts"] == 1 and st["baseline_start_ns"] == ms.T0 + 30 * NS


# -- saved baselines and new agent ids ------------------------------------------------------
def _learned(tmp_path: Path) -> Path:
    engine = Engine(EngineConfig(**BASE), [info(1)])
    for b in ms.make("attack_recon")[:31]:
        engine.process(b)
    p = tmp_path / "b.h7b"
    engine.save_baseline(p)
    return p


def test_saved_baseline_maps_a_restarted_program_by_exe(tmp_path: Path) -> None:
    p = _learned(tmp_path)
    again = info(2)  # same program, new pid and agent_id
    for strict in (True, False):
        engine = Engine(EngineConfig(**BASE), [again], strict=strict)
        engine.load_baseline(p)
        assert engine.phase == PHASE_MONITORING
        assert engine.status()["agents"][again.agent_id]["baseline_loaded_from"] == info(1).agent_id
        alerts = [a for b in relabel(ms.make("attack_recon"), 2, 0)[30:] for a in engine.process(b)]
        assert ("L3", "STRUCTURAL_DRIFT") in of(alerts, again)


def test_saved_baseline_by_position_and_refusal(tmp_path: Path) -> None:
    p = _learned(tmp_path)
    other = info(3, "/usr/bin/node")  # different id and exe: one to one, by position
    engine = Engine(EngineConfig(**BASE), [other])
    engine.load_baseline(p)
    assert engine.phase == PHASE_MONITORING
    # two agents, one model, neither matching: strict refuses, watching lets both learn
    two = [info(3, "/usr/bin/node"), info(4, "/usr/bin/ruby")]
    with pytest.raises(UsageError, match="no model for agent"):
        Engine(EngineConfig(**BASE), two).load_baseline(p)
    watching = Engine(EngineConfig(**BASE), two, strict=False)
    watching.load_baseline(p)
    assert watching.phase == PHASE_BASELINE


def test_saved_baseline_applies_to_an_agent_that_appears_later(tmp_path: Path) -> None:
    p = _learned(tmp_path)
    engine = Engine(EngineConfig(**BASE), [], strict=False)
    engine.load_baseline(p)
    assert engine.phase == PHASE_WAITING
    late, stranger = info(2), info(3, "/usr/bin/node")
    engine.add_agent(stranger)  # no model for node: it learns its own
    engine.add_agent(late)  # same exe as the saved agent: monitored at once
    st = engine.status()["agents"]
    assert st[late.agent_id]["phase"] == PHASE_MONITORING
    assert st[stranger.agent_id]["phase"] == PHASE_BASELINE
    assert [n.kind for n in engine.take_notices()] == ["baseline-loaded"]
    alerts = [a for b in relabel(ms.make("attack_recon"), 2, 0)[30:] for a in engine.process(b)]
    assert ("L3", "STRUCTURAL_DRIFT") in of(alerts, late)


def test_save_keeps_only_agents_with_a_model(tmp_path: Path) -> None:
    a, b = info(1), info(2)
    engine = Engine(EngineConfig(**BASE), [a])
    with pytest.raises(UsageError, match="no agent has completed"):
        engine.to_state()
    drive(
        engine,
        merge(40, relabel(ms.make("benign", seconds=40), 1, 0), relabel(ms.make("benign"), 2, 20)),
        {20: b},
    )
    state = engine.to_state()
    assert [s["agent_id"] for s in state["agents"]] == [a.agent_id]
