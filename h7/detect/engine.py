"""The detection engine: one object that drives baseline, calibration and monitoring.

The same engine serves ``h7 attach`` (live) and ``h7 replay`` (a journal):
it only ever sees :class:`h7.batch.Batch` objects and event dicts, so what a
replay reports is what the live sensor would have reported.

Live sensor, per drain of the rings::

    engine.on_syscalls(sys_array)      # optional: keeps alert traces complete
    alerts = engine.on_events(events)  # immediate path: L2, L4 destination, L5
    ...
    alerts = engine.end_batch(batch)   # every batch interval: learn / judge

Replay (and tests) call ``engine.process(batch)``, which does the three in
kernel-time order.  Every emitted alert also goes to ``on_alert``.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from h7.alert import Alert
from h7.batch import AgentInfo, Batch, Event
from h7.decode import SYS_DTYPE
from h7.detect.channels.base import (
    PHASE_BASELINE,
    PHASE_MONITORING,
    Channel,
    ChannelContext,
    ProcReader,
)
from h7.detect.channels.l1_sched import SchedChannel, sched_vector
from h7.detect.channels.l2_exec import ExecChannel, KnownBinaries
from h7.detect.channels.l3_causal import CausalChannel
from h7.detect.channels.l4_egress import EgressChannel
from h7.detect.channels.l5_ptrace import PtraceChannel
from h7.detect.config import NS_PER_S, EngineConfig, format_duration
from h7.detect.syscalls import syscall_name
from h7.errors import H7Error, UsageError

__all__ = [
    "AgentExitedDuringBaseline",
    "AgentIdleDuringBaseline",
    "BaselineError",
    "Engine",
    "EngineConfig",
]

BASELINE_FORMAT = "h7-baseline"
BASELINE_VERSION = 1
CHANNEL_CLASSES: dict[str, type[Channel]] = {
    "L1": SchedChannel,
    "L2": ExecChannel,
    "L3": CausalChannel,
    "L4": EgressChannel,
    "L5": PtraceChannel,
}


class BaselineError(H7Error):
    """The baseline could not produce a model worth monitoring with."""

    exit_code = 3

    def __init__(self, message: str, agent_id: str = "") -> None:
        super().__init__(message)
        self.agent_id = agent_id


class AgentExitedDuringBaseline(BaselineError):
    """The agent's root process exited before the baseline was complete."""


class AgentIdleDuringBaseline(BaselineError):
    """The agent did (almost) nothing during the baseline: there is nothing to model."""


class TraceRing:
    """The last N syscalls and discrete events of one agent, for alert traces.

    Syscalls stay in a structured array: appending a batch costs one
    ``argpartition`` over it (only if it arrived out of time order), never a
    Python step per syscall.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.sys = np.zeros(0, SYS_DTYPE)
        self.events: collections.deque[Event] = collections.deque(maxlen=max(cap, 1))

    def add_sys(self, arr: np.ndarray) -> None:
        if self.cap <= 0 or arr.size == 0:
            return
        if arr.size > self.cap:
            ts = arr["ts_ns"]
            if bool((ts[1:] >= ts[:-1]).all()):
                arr = arr[-self.cap :]
            else:
                idx = np.argpartition(ts, arr.size - self.cap)[arr.size - self.cap :]
                arr = arr[idx]
        merged = np.concatenate((self.sys, arr))
        merged = merged[np.argsort(merged["ts_ns"], kind="stable")]
        self.sys = merged[-self.cap :]

    def add_events(self, events: Iterable[Event]) -> None:
        if self.cap > 0:
            self.events.extend(events)

    def trace(self, upto_ns: int, n: int) -> list[dict[str, Any]]:
        """Oldest-first merge of syscalls and events with ts <= upto_ns, the last n."""
        if n <= 0:
            return []
        s = self.sys[self.sys["ts_ns"] <= np.uint64(max(upto_ns, 0))][-n:]
        sys_items: list[dict[str, Any]] = []
        for ts, pid, tid, nr in zip(
            s["ts_ns"].tolist(), s["tgid"].tolist(), s["tid"].tolist(), s["nr"].tolist(), strict=True
        ):
            d: dict[str, Any] = {"type": "syscall", "ts_ns": ts, "pid": pid, "tid": tid, "nr": nr}
            name = syscall_name(nr)
            if name:
                d["name"] = name
            sys_items.append(d)
        evs = [e for e in self.events if int(e.get("ts_ns", 0)) <= upto_ns][-n:]
        merged = sorted(sys_items + [dict(e) for e in evs], key=lambda d: int(d["ts_ns"]))
        return merged[-n:]


class RateLimiter:
    """At most one alert per (agent, channel, code, key) per window; counts the rest.

    Time is the alerts' kernel timestamps, so replay reproduces live exactly.
    The next alert that gets through carries how many were folded into it.
    """

    def __init__(self, window_ns: int) -> None:
        self.window_ns = window_ns
        self._last: dict[tuple[str, str, str, str], int] = {}
        self._pending: dict[tuple[str, str, str, str], int] = {}
        self.suppressed_total = 0

    def admit(self, alert: Alert) -> bool:
        k = (alert.agent_id, alert.channel, alert.code, alert.key)
        last = self._last.get(k)
        if last is not None and self.window_ns > 0 and alert.ts_ns - last < self.window_ns:
            self._pending[k] = self._pending.get(k, 0) + 1
            self.suppressed_total += 1
            return False
        self._last[k] = alert.ts_ns
        alert.suppressed = self._pending.pop(k, 0)
        return True

    def pending(self) -> dict[str, int]:
        return {"/".join(k): v for k, v in self._pending.items()}


@dataclass
class AgentState:
    """Everything the engine keeps per agent."""

    ctx: ChannelContext
    channels: list[Channel]
    ring: TraceRing
    syscalls: int = 0
    sched_events: float = 0.0
    active_batches: int = 0
    batches: int = 0
    exited_ns: int | None = None
    alerts: collections.Counter[str] = field(default_factory=collections.Counter)


def _agent_of(ev: Event) -> int:
    if ev.get("type") == "ptrace" and int(ev.get("target_agent", 0) or 0):
        return int(ev["target_agent"])
    return int(ev.get("agent", 0))


class Engine:
    """Baseline -> calibration -> monitoring, for one or more agents.

    ``on_alert`` is called synchronously for every alert that passes rate
    limiting (the sensor wires it to .cal signing and the sinkhole).
    ``proc`` defaults to live /proc reads when ``config.read_proc``.
    """

    def __init__(
        self,
        config: EngineConfig | None = None,
        agents: Sequence[AgentInfo] = (),
        on_alert: Callable[[Alert], None] | None = None,
        *,
        proc: ProcReader | None = None,
        known_binaries: KnownBinaries | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self.on_alert = on_alert
        self.proc = proc or ProcReader(enabled=self.config.read_proc)
        self._known = known_binaries
        self.infos = {a.agent: a for a in agents}
        self.agents: dict[int, AgentState] = {}
        self.phase = PHASE_BASELINE
        for a in agents:
            self._state(a.agent)
        self.t_start: int | None = None
        self.t_last: int = 0
        self.batches = 0
        self.monitor_batches = 0
        self.limiter = RateLimiter(self.config.rate_limit_ns)
        self.alerts_emitted = 0
        self.drops: dict[str, int] = {}

    # -- agents ---------------------------------------------------------
    def add_agent(self, info: AgentInfo) -> None:
        """Register an agent the sensor attached after construction (selector match).

        Before the baseline ends it joins the baseline; after, it gets the
        model-free checks only (L2, L5, the L4 allowlist): it has no model.
        """
        self.infos[info.agent] = info
        self._state(info.agent)

    def _state(self, agent: int) -> AgentState:
        st = self.agents.get(agent)
        if st is None:
            info = self.infos.get(agent)
            ctx = ChannelContext(
                agent=agent,
                agent_id=info.agent_id if info else f"agent{agent}",
                info=info,
                config=self.config,
                phase=self.phase,
                proc=self.proc,
            )
            chans: list[Channel] = []
            for name in self.config.channels:
                if name == "L2":
                    chans.append(ExecChannel(self.config, self._known))
                else:
                    chans.append(CHANNEL_CLASSES[name](self.config))
            st = AgentState(ctx, chans, TraceRing(self.config.trace_len))
            if self.phase == PHASE_MONITORING:
                # An agent first seen after the baseline has no model: only
                # the model-free checks (L2, L5, L4 allowlist) apply to it.
                for ch in chans:
                    ch.finish_baseline(ctx)
            self.agents[agent] = st
        return st

    # -- streaming inputs -------------------------------------------------
    def on_syscalls(self, sys: np.ndarray) -> None:
        """Feed drained syscall records into the per-agent trace rings (vectorised)."""
        if sys.size == 0 or self.config.trace_len <= 0:
            return
        ag = sys["agent"]
        first = int(ag[0])
        if bool((ag == first).all()):
            self._state(first).ring.add_sys(sys)
            return
        for a in np.unique(ag).tolist():
            self._state(int(a)).ring.add_sys(sys[ag == a])

    def on_events(self, events: list[Event]) -> list[Alert]:
        """Immediate path: judge discrete events now; returns the alerts emitted."""
        if not events:
            return []
        groups: dict[int, list[Event]] = {}
        for ev in events:
            groups.setdefault(_agent_of(ev), []).append(ev)
        out: list[Alert] = []
        for agent, evs in groups.items():
            st = self._state(agent)
            st.ring.add_events(evs)
            info = st.ctx.info
            if info is not None and st.exited_ns is None:
                for ev in evs:
                    if ev.get("type") == "exit" and ev.get("pid") == info.root_pid == ev.get("tid"):
                        st.exited_ns = int(ev.get("ts_ns", 0))
            raw: list[Alert] = []
            for ch in st.channels:
                raw.extend(ch.on_events(evs, st.ctx))
            out.extend(self._emit(st, raw))
        return out

    def end_batch(self, batch: Batch) -> list[Alert]:
        """Per-batch path: learn (baseline) or judge (monitoring) the batch.

        Assumes its syscalls and events were already given to
        :meth:`on_syscalls`/:meth:`on_events`; use :meth:`process` otherwise.
        Raises :class:`BaselineError` when the baseline ends with an empty model.
        """
        if self.t_start is None:
            self.t_start = int(batch.t0_ns)
        self.t_last = int(batch.t1_ns)
        self.batches += 1
        self.drops = dict(batch.drops)
        subs = self._split(batch)
        if self.phase == PHASE_BASELINE:
            for agent, st in self.agents.items():
                sub = subs.get(agent) or Batch(batch.t0_ns, batch.t1_ns)
                self._account(st, sub)
                for ch in st.channels:
                    ch.learn(sub, st.ctx)
            if batch.t1_ns - self.t_start >= self.config.baseline_ns:
                self._finish_baseline()
            return []
        self.monitor_batches += 1
        raw_by_agent: list[tuple[AgentState, list[Alert]]] = []
        for agent, st in self.agents.items():
            sub = subs.get(agent) or Batch(batch.t0_ns, batch.t1_ns)
            st.batches += 1
            raw: list[Alert] = []
            for ch in st.channels:
                raw.extend(ch.judge(sub, st.ctx))
            raw_by_agent.append((st, raw))
        out: list[Alert] = []
        for st, raw in raw_by_agent:
            out.extend(self._emit(st, raw))
        return out

    def process(self, batch: Batch) -> list[Alert]:
        """Replay one batch: syscalls and events interleaved in time order, then the batch."""
        sys = batch.syscalls
        out: list[Alert] = []
        if batch.events:
            if sys.size and self.config.trace_len > 0:
                ts = sys["ts_ns"]
                if not bool((ts[1:] >= ts[:-1]).all()):
                    sys = sys[np.argsort(ts, kind="stable")]
                    ts = sys["ts_ns"]
                ev_ts = np.fromiter(
                    (int(e.get("ts_ns", 0)) for e in batch.events), np.uint64, len(batch.events)
                )
                cuts = np.searchsorted(ts, ev_ts, side="right")
                prev = 0
                i = 0
                n = len(batch.events)
                while i < n:
                    j = i
                    while j + 1 < n and cuts[j + 1] == cuts[i]:
                        j += 1
                    c = int(cuts[i])
                    if c > prev:
                        self.on_syscalls(sys[prev:c])
                        prev = c
                    out.extend(self.on_events(batch.events[i : j + 1]))
                    i = j + 1
                self.on_syscalls(sys[prev:])
            else:
                self.on_syscalls(sys)
                out.extend(self.on_events(batch.events))
        else:
            self.on_syscalls(sys)
        out.extend(self.end_batch(batch))
        return out

    # -- internals --------------------------------------------------------
    def _split(self, batch: Batch) -> dict[int, Batch]:
        """Per-agent views of a batch (numpy masks; the single-agent case copies nothing)."""
        agents: set[int] = set(batch.stats)
        ev_groups: dict[int, list[Event]] = {}
        for ev in batch.events:
            ev_groups.setdefault(_agent_of(ev), []).append(ev)
        agents |= set(ev_groups)
        sys = batch.syscalls
        sys_groups: dict[int, np.ndarray] = {}
        if sys.size:
            ag = sys["agent"]
            first = int(ag[0])
            if bool((ag == first).all()):
                sys_groups[first] = sys
            else:
                for a in np.unique(ag).tolist():
                    sys_groups[int(a)] = sys[ag == a]
        agents |= set(sys_groups)
        out: dict[int, Batch] = {}
        for a in agents:
            self._state(a)
            out[a] = Batch(
                t0_ns=batch.t0_ns,
                t1_ns=batch.t1_ns,
                syscalls=sys_groups.get(a, np.zeros(0, SYS_DTYPE)),
                events=ev_groups.get(a, []),
                stats={a: batch.stats[a]} if a in batch.stats else {},
                drops=batch.drops,
            )
        return out

    @staticmethod
    def _account(st: AgentState, sub: Batch) -> None:
        st.batches += 1
        s = sub.stats.get(st.ctx.agent)
        n_sys = int(sub.syscalls.size)
        if s is not None:
            n_sys = max(n_sys, int(s["syscalls"]))
        sched = float(sched_vector(s).sum()) if s is not None else 0.0
        st.syscalls += n_sys
        st.sched_events += sched
        if n_sys > 0 or sub.events:
            st.active_batches += 1

    def _finish_baseline(self) -> None:
        secs = format_duration(self.config.baseline_ns)
        declared = [a for a in self.agents if a in self.infos] or list(self.agents)
        if not declared:
            raise AgentIdleDuringBaseline(
                f"no agent activity at all during the {secs} baseline: nothing to monitor with"
            )
        for a in declared:
            st = self.agents[a]
            aid = st.ctx.agent_id
            if st.exited_ns is not None:
                at = (st.exited_ns - (self.t_start or 0)) / NS_PER_S
                raise AgentExitedDuringBaseline(
                    f"agent {aid} exited {at:.1f}s into the {secs} baseline: "
                    "not monitoring with an empty model",
                    aid,
                )
            if (
                st.syscalls < self.config.min_baseline_syscalls
                or st.active_batches < self.config.min_baseline_active_batches
            ):
                raise AgentIdleDuringBaseline(
                    f"agent {aid} was idle during the {secs} baseline ({st.syscalls} syscalls, "
                    f"{int(st.sched_events)} scheduling events, active in {st.active_batches} of "
                    f"{st.batches} batches): not monitoring with an empty model; "
                    f"baseline while the agent is working, or lengthen --baseline",
                    aid,
                )
        self.phase = PHASE_MONITORING
        for st in self.agents.values():
            st.ctx.phase = PHASE_MONITORING
            for ch in st.channels:
                ch.finish_baseline(st.ctx)

    def _emit(self, st: AgentState, alerts: list[Alert]) -> list[Alert]:
        out: list[Alert] = []
        for a in alerts:
            if not self.limiter.admit(a):
                continue
            a.syscall_trace = st.ring.trace(a.ts_ns, self.config.trace_len)
            st.alerts[a.code] += 1
            self.alerts_emitted += 1
            out.append(a)
            if self.on_alert is not None:
                self.on_alert(a)
        return out

    # -- views ------------------------------------------------------------
    def baseline_progress(self) -> float:
        """Fraction of the baseline window covered so far (1.0 once monitoring)."""
        if self.phase != PHASE_BASELINE:
            return 1.0
        if self.t_start is None:
            return 0.0
        return min(1.0, (self.t_last - self.t_start) / self.config.baseline_ns)

    def status(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "baseline_progress": round(self.baseline_progress(), 4),
            "batches": self.batches,
            "monitor_batches": self.monitor_batches,
            "alerts": self.alerts_emitted,
            "suppressed": self.limiter.suppressed_total,
            "drops": dict(self.drops),
            "agents": {
                st.ctx.agent_id: {
                    "syscalls_in_baseline": st.syscalls,
                    "alerts": dict(st.alerts),
                    "exited": st.exited_ns is not None,
                    "channels": {ch.name: ch.status() for ch in st.channels},
                }
                for st in self.agents.values()
            },
        }

    # -- baseline persistence ---------------------------------------------
    def to_state(self) -> dict[str, Any]:
        if self.phase != PHASE_MONITORING:
            raise UsageError("no baseline to save yet: the baseline phase has not completed")
        return {
            "format": BASELINE_FORMAT,
            "version": BASELINE_VERSION,
            "baseline_ns": self.config.baseline_ns,
            "batch_ns": self.config.batch_ns,
            "agents": [
                {
                    "agent": st.ctx.agent,
                    "agent_id": st.ctx.agent_id,
                    "exe": st.ctx.info.exe if st.ctx.info else "",
                    "channels": {ch.name: ch.to_state() for ch in st.channels},
                }
                for st in self.agents.values()
            ],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Enter monitoring with a saved baseline instead of learning one.

        Saved agents are matched to this engine's by agent_id, else by
        executable, else -- one agent on each side -- to each other.
        """
        if not isinstance(state, dict) or state.get("format") != BASELINE_FORMAT:
            raise UsageError("not an H7 baseline file")
        if state.get("version") != BASELINE_VERSION:
            raise UsageError(f"unsupported baseline version {state.get('version')!r}")
        saved = list(state.get("agents", []))
        if not self.agents and len(saved) == 1:
            self._state(int(saved[0]["agent"]))
        mine = list(self.agents.values())
        pairs: list[tuple[AgentState, dict[str, Any]]] = []
        for st in mine:
            m = next((s for s in saved if s.get("agent_id") == st.ctx.agent_id), None)
            if m is None and st.ctx.info is not None:
                m = next((s for s in saved if s.get("exe") and s.get("exe") == st.ctx.info.exe), None)
            if m is None and len(mine) == 1 and len(saved) == 1:
                m = saved[0]
            if m is None:
                raise UsageError(f"the baseline file has no model for agent {st.ctx.agent_id}")
            pairs.append((st, m))
        try:
            for st, m in pairs:
                for ch in st.channels:
                    chs = m["channels"].get(ch.name)
                    if chs is None:
                        raise UsageError(f"the baseline file has no {ch.name} model for {st.ctx.agent_id}")
                    ch.from_state(chs)
        except (KeyError, TypeError, ValueError) as e:
            raise UsageError(f"malformed baseline file: {e!r}") from e
        self.phase = PHASE_MONITORING
        for st in self.agents.values():
            st.ctx.phase = PHASE_MONITORING

    def save_baseline(self, path: str | os.PathLike[str]) -> None:
        data = msgpack.packb(self.to_state(), use_bin_type=True, unicode_errors="surrogateescape")
        tmp = f"{os.fspath(path)}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def load_baseline(self, path: str | os.PathLike[str]) -> None:
        try:
            with open(path, "rb") as f:
                state = msgpack.unpackb(
                    f.read(), raw=False, strict_map_key=False, unicode_errors="surrogateescape"
                )
        except OSError as e:
            raise UsageError(f"cannot read baseline {os.fspath(path)}: {e.strerror or e}") from e
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
            raise UsageError(f"{os.fspath(path)} is not a valid baseline file: {e}") from e
        self.load_state(state)
