"""The detection engine: one object that drives baseline, calibration and monitoring.

The same engine serves ``h7 attach`` (live) and ``h7 replay`` (a journal):
it only ever sees :class:`h7.batch.Batch` objects and event dicts, so what a
replay reports is what the live sensor would have reported.

Live sensor, per drain of the rings::

    engine.on_syscalls(sys_array)      # optional: keeps alert traces complete
    alerts = engine.on_events(events)  # immediate path: L2, L4 destination, L5
    ...
    alerts = engine.end_batch(batch)   # every batch interval: learn / judge

``h7 replay`` feeds a journal the same way, through the same
:func:`h7.pipeline.run_source` (a :class:`h7.source.JournalSource` replays
each batch as the sensor drained it).  Tests and benchmarks that want the
alerts of one batch call ``engine.process(batch)``, which does the three in
kernel-time order.  Every emitted alert also goes to ``on_alert``.

Once an agent is monitored, its L3 model names the syscall windows that need
not be shipped any more; ``on_filter(agent, codes)`` hands them to the live
sensor, which has the kernel drop them (only a monitored agent has them, and
an agent never leaves monitoring, so nothing takes them back).  Without
``on_filter`` (a replay) the engine drops them from the alert traces itself,
so a replay quotes what the live sensor would have quoted; the channels score
a batch the same either way.

Every agent has its own phase: its baseline window starts with the first
batch after it was added (at construction or by :meth:`Engine.add_agent`), so
a fleet sensor that attaches agents as they appear models each one from its
own first 30 s.  What happens to an agent whose baseline fails is reported as
:class:`Notice` objects (:meth:`Engine.take_notices`); only a *strict* engine
(explicit agents: ``h7 attach <pid>``, ``h7 replay``) raises
:class:`BaselineError`, and only once no agent is left to monitor.

What it composes, each in its own module: an agent's phases, state and
notices (:mod:`h7.detect.agents`), the trace ring alerts quote
(:mod:`h7.detect.trace`), alert folding and storms (:mod:`h7.detect.folding`),
saved baseline files (:mod:`h7.detect.baseline`), and the channels
(:mod:`h7.registry`).
"""

from __future__ import annotations

import collections
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from h7 import registry
from h7.alert import Alert
from h7.batch import AgentInfo, Batch, Event
from h7.config import NS_PER_S, EngineConfig, format_duration
from h7.decode import SYS_DTYPE
from h7.detect import baseline
from h7.detect.agents import (
    PHASE_BASELINE,
    PHASE_DROPPED,
    PHASE_MONITORING,
    PHASE_WAITING,
    AgentExitedDuringBaseline,
    AgentIdleDuringBaseline,
    AgentState,
    BaselineError,
    Notice,
    agent_of,
)
from h7.detect.channels.base import Channel, ChannelContext, ProcReader
from h7.detect.channels.l1_sched import sched_vector
from h7.detect.channels.l4_egress import EgressChannel
from h7.detect.folding import AgentFolder
from h7.detect.proctree import sample_tree
from h7.detect.sequence import in_sorted
from h7.detect.trace import TraceRing
from h7.errors import H7Error, UsageError
from h7.source import interleave

__all__ = [
    "PHASE_BASELINE",
    "PHASE_DROPPED",
    "PHASE_MONITORING",
    "PHASE_WAITING",
    "AgentExitedDuringBaseline",
    "AgentIdleDuringBaseline",
    "BaselineError",
    "Engine",
    "EngineConfig",
    "Notice",
]


#: A baseline ends only once it holds at least this share of the batches its length should
#: give (Engine._baseline_due): half, so an ordinary late batch or two never stretches it.
BASELINE_MIN_BATCH_SHARE = 0.5
#: ... and runs on for at most this many times its length to gather them.
BASELINE_MAX_STRETCH = 3


class Engine:
    """Baseline -> calibration -> monitoring, for one or more agents, each on its own clock.

    ``on_alert`` is called synchronously for every alert that passes rate
    limiting (the sensor wires it to .cal signing and the sinkhole).
    ``proc`` defaults to live /proc reads when ``config.read_proc``.

    ``strict`` (the default) is for a fixed set of explicit agents (``h7
    attach <pid>...``, ``h7 replay``): an agent whose baseline fails is dropped
    with a notice, and :class:`BaselineError` is raised once no agent is left,
    because then the run can monitor nothing.  With ``strict=False`` (the
    sensor watches selectors and agents come and go) nothing is raised: an
    agent whose root exits during its baseline is dropped with a notice, an
    idle one has its baseline started again (it is alive and still matched;
    dropping it would leave it unmodelled for good), and with no agent at all
    the engine just waits.
    """

    def __init__(
        self,
        config: EngineConfig | None = None,
        agents: Sequence[AgentInfo] = (),
        on_alert: Callable[[Alert], None] | None = None,
        *,
        proc: ProcReader | None = None,
        strict: bool = True,
        on_filter: Callable[[int, np.ndarray], Any] | None = None,
        on_monitoring: Callable[[int], Any] | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self.on_alert = on_alert
        self.on_filter = on_filter
        #: called with an agent's number when it starts monitoring (its baseline ended or was
        #: loaded): the live sensor then counts the agent's tool runs apart (Source.mark_tool_runs)
        self.on_monitoring = on_monitoring
        self.strict = strict
        self.proc = proc or ProcReader(enabled=self.config.read_proc)
        self.infos = {a.agent: a for a in agents}
        self.agents: dict[int, AgentState] = {}
        for a in agents:
            self._state(a.agent)
        self.t_start: int | None = None
        self.t_last: int = 0
        self.batches = 0
        self.monitor_batches = 0
        self.alerts_emitted = 0
        self.drops: dict[str, int] = {}
        self._notices: list[Notice] = []
        self.recent_notices: collections.deque[Notice] = collections.deque(maxlen=20)
        #: saved agent models (``load_state``) kept for agents added later
        self._saved: list[dict[str, Any]] = []
        self._saved_used: set[int] = set()
        self.retired = 0  # agents forgotten after their processes ended (watch mode)
        #: leave the costly part of each channel's end of baseline (CUSUM simulations, L1's
        #: size-aware thresholds) for :meth:`calibrate_step`, which the live sensor calls in its
        #: idle time; off, it runs in the batch that ends the baseline (a replay, tests)
        self.defer_calibration = False

    # -- agents ---------------------------------------------------------
    def retire_agent(self, agent: int) -> None:
        """Forget an agent whose processes are all gone and whose number the sensor freed.

        Watch mode sees agents come and go without end; their per-agent state
        (models, rings, folding) must go with them, and a later agent under
        the same number must start clean.
        """
        st = self.agents.pop(agent, None)
        self.infos.pop(agent, None)
        if st is not None:
            self.retired += 1

    def add_agent(self, info: AgentInfo) -> None:
        """Register an agent the sensor attached after construction (selector match).

        The agent gets its own baseline window, starting with the next batch
        (:meth:`end_batch`), and is monitored on all channels once it is
        complete; the model-free checks (L2, L5, the L4 allowlist) apply from
        the start.  If a saved baseline was loaded and holds a model for this
        agent (same agent_id, else same executable), that model is used and
        the agent is monitored at once.
        """
        self.infos[info.agent] = info
        st = self.agents.get(info.agent)
        if st is not None and st.phase == PHASE_DROPPED:
            del self.agents[info.agent]  # a new agent under a number already used: start clean
            st = None
        if st is not None:
            # Activity seen before the add (or the same agent added twice): keep
            # what was learned, but name it properly from now on.
            st.ctx.info = info
            st.ctx.agent_id = info.agent_id
            if st.phase != PHASE_BASELINE:
                return
        else:
            st = self._state(info.agent)
        if self._saved:
            m = self._match_saved(st, self._saved_used)
            if m is not None:
                self._load_agent(st, self._saved[m])
                self._saved_used.add(m)
                how = "agent_id" if self._saved[m].get("agent_id") == info.agent_id else "executable"
                st.loaded_from = str(self._saved[m].get("agent_id", ""))
                self._notice(
                    "baseline-loaded",
                    st,
                    f"agent {info.agent_id}: using the saved baseline of {st.loaded_from} "
                    f"(same {how}); monitoring {registry.span(self.config.channels)}",
                    self.t_last,
                )

    def _state(self, agent: int) -> AgentState:
        st = self.agents.get(agent)
        if st is None:
            info = self.infos.get(agent)
            ctx = ChannelContext(
                agent=agent,
                agent_id=info.agent_id if info else f"agent{agent}",
                info=info,
                config=self.config,
                phase=PHASE_BASELINE,
                proc=self.proc,
            )
            st = AgentState(
                ctx, self._new_channels(), TraceRing(self.config.trace_len), folder=self._new_folder()
            )
            self.agents[agent] = st
        return st

    def _new_folder(self) -> AgentFolder:
        c = self.config
        return AgentFolder(
            c.fold_idle_ns,
            c.storm_burst,
            c.storm_sample,
            c.fold_max_keys,
            c.storm_window_ns,
            c.fold_escalation,
        )

    def _new_channels(self) -> list[Channel]:
        chans: list[Channel] = []
        for name in self.config.channels:
            spec = registry.get(name)
            if spec is None:
                raise UsageError(f"detection channel {name} is not registered")
            chans.append(spec.factory(self.config))
        return chans

    def _checked(self, agent: int) -> bool:
        """Agents whose baseline must be sound: the declared ones (all, if none is declared).

        Activity under an agent number nobody declared (a stray record) is
        modelled like any agent's but never fails a run.
        """
        return agent in self.infos or not self.infos

    def _tracked(self) -> list[AgentState]:
        """The agents the engine-wide phase is about: declared (else all), not dropped."""
        sts = [st for a, st in self.agents.items() if self._checked(a)]
        return [st for st in sts if st.phase != PHASE_DROPPED]

    def take_notices(self) -> list[Notice]:
        """Notices since the last call (baseline complete, restarted, agent dropped), oldest first."""
        out, self._notices = self._notices, []
        return out

    def _notice(
        self,
        kind: str,
        st: AgentState,
        message: str,
        ts_ns: int,
        level: str = "info",
        details: dict[str, Any] | None = None,
    ) -> None:
        n = Notice(kind, st.ctx.agent_id, message, int(ts_ns), level, details or {})
        self._notices.append(n)
        self.recent_notices.append(n)

    # -- operator decisions -----------------------------------------------
    def accept(self, agent_id: str, channel: str, spec: str, protocol: str = "tcp") -> int:
        """An operator accepted ``spec`` for ``agent_id`` (``*``: every current agent).

        L4: ``spec`` is a destination; from now on the agent's L4 channel allows
        it, and its in-use keys that the rule covers are forgotten by the
        folder, so nothing of it is reported again.  L2: ``spec`` is an alert
        key exactly as a certificate's ``alert_key`` shows it (``dash<-git``,
        ``node<-npm``, ``strace``); the channel still judges every exec (its
        hand-off and written-file state depend on it), but a verdict with that
        key is counted, not certified.  An exact key and not a program name
        because the key carries the parent: accepting git's hook shell must not
        accept the shell the agent starts itself (``dash<-agent``).  Returns
        how many agents it applied to.  The signed record of the decision is
        the caller's (``h7 accept`` writes it into the chain; the sensor reads
        it from there and calls this).  ``protocol``: what an L4 spec without a
        protocol prefix allows (the record's ``protocol``; ``any`` for a record
        signed before records named one).
        """
        if channel == "L2":
            return self._accept_key(agent_id, channel, spec)
        if channel != "L4":
            raise UsageError(f"only L4 destinations and L2 alert keys can be accepted, not {channel!r}")
        n = 0
        for st in self.agents.values():
            if st.phase == PHASE_DROPPED or agent_id not in ("*", st.ctx.agent_id):
                continue
            for ch in st.channels:
                if isinstance(ch, EgressChannel):
                    rule = ch.accept(spec, protocol)
                    st.folder.forget("L4", ch.key_matcher(rule))
                    n += 1
        return n

    def _accept_key(self, agent_id: str, channel: str, key: str) -> int:
        if not key or key != key.strip() or not key.isprintable():
            raise UsageError(f"{channel} accept: {key!r} is not an alert key (printable, no edge spaces)")
        n = 0
        for st in self.agents.values():
            if st.phase == PHASE_DROPPED or agent_id not in ("*", st.ctx.agent_id):
                continue
            if not any(ch.name == channel for ch in st.channels):
                continue
            st.accepted_keys.setdefault(channel, set()).add(key)
            st.folder.forget(channel, key.__eq__)
            n += 1
        return n

    # -- streaming inputs -------------------------------------------------
    def on_syscalls(self, sys: np.ndarray) -> None:
        """Feed drained syscall records into the per-agent trace rings (vectorised)."""
        if sys.size == 0 or self.config.trace_len <= 0:
            return
        ag = sys["agent"]
        first = int(ag[0])
        if bool((ag == first).all()):
            groups = [(first, sys)]
        else:
            groups = [(int(a), sys[ag == a]) for a in np.unique(ag).tolist()]
        for a, part in groups:
            st = self._state(a)
            if st.phase == PHASE_DROPPED:
                continue
            if st.user_filter is not None:
                part = part[~in_sorted(st.user_filter, part["window"])]
            st.ring.add_sys(part)

    def on_events(self, events: list[Event]) -> list[Alert]:
        """Immediate path: judge discrete events now; returns the alerts emitted."""
        if not events:
            return []
        groups: dict[int, list[Event]] = {}
        for ev in events:
            groups.setdefault(agent_of(ev), []).append(ev)
        out: list[Alert] = []
        for agent, evs in groups.items():
            st = self._state(agent)
            if st.phase == PHASE_DROPPED:
                continue
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

    def sample_procs(self, batch: Batch) -> None:
        """Live only: each agent's per-process CPU as the batch closes, into ``batch.procs``.

        Called before the batch is journalled, so a replay attributes CPU to
        processes exactly as the live run did (h7.detect.proctree).  In a
        replay /proc describes other processes: nothing is read.
        """
        if not self.proc.enabled:
            return
        for agent, st in self.agents.items():
            info = st.ctx.info
            if st.phase == PHASE_DROPPED or info is None:
                continue
            wanted = [p for p in (ch.sample_pids() for ch in st.channels) if p is not None]
            if wanted:
                batch.procs[agent] = sample_tree(info.root_pid, set().union(*wanted), root=self.proc.root)

    def end_batch(self, batch: Batch) -> list[Alert]:
        """Per-batch path: each agent learns (its baseline) or is judged (monitoring).

        Assumes its syscalls and events were already given to
        :meth:`on_syscalls`/:meth:`on_events`; use :meth:`process` otherwise.
        An agent's baseline ends with the first batch that completes its own
        window; its root exiting before that ends it at once.  A strict engine
        raises :class:`BaselineError` when that leaves no agent to monitor.
        """
        if self.t_start is None:
            self.t_start = int(batch.t0_ns)
        self.t_last = int(batch.t1_ns)
        self.batches += 1
        self.drops = dict(batch.drops)
        subs = self._split(batch)
        raw_by_agent: list[tuple[AgentState, list[Alert]]] = []
        for agent, st in list(self.agents.items()):
            if st.phase == PHASE_DROPPED:
                continue
            sub = subs.get(agent) or Batch(batch.t0_ns, batch.t1_ns)
            if st.t_start is None:
                st.t_start = int(batch.t0_ns)
            st.t_last = int(batch.t1_ns)
            if st.phase == PHASE_BASELINE:
                self._account(st, sub)
                for ch in st.channels:
                    ch.learn(sub, st.ctx)
                if st.exited_ns is not None and self._checked(agent):
                    self._fail(st, self._exited_error(st))
                elif self._baseline_due(st, int(batch.t1_ns)):
                    self._finish_baseline(st)
                continue
            st.batches += 1
            self._calibrate_all(st)  # whatever the idle time left of it: judged as if done at once
            raw: list[Alert] = []
            for ch in st.channels:
                raw.extend(ch.judge(sub, st.ctx))
            raw_by_agent.append((st, raw))
        if self.strict and not self.agents and batch.t1_ns - self.t_start >= self.config.baseline_ns:
            raise AgentIdleDuringBaseline(
                f"no agent activity at all during the {format_duration(self.config.baseline_ns)} "
                "baseline: nothing to monitor with"
            )
        if raw_by_agent:
            self.monitor_batches += 1
        out: list[Alert] = []
        for st, raw in raw_by_agent:
            gap = self.config.fold_gap_ns if self.config.fold_idle_ns > 0 else 0  # fold_idle 0: no folding
            out.extend(self._emit(st, raw, idle_ns=gap))
        # The batch is the storm interval: what each agent's channels held in it goes
        # out now, as one aggregated certificate per channel, at most one batch late.
        for st in list(self.agents.values()):
            if st.phase != PHASE_DROPPED:
                out.extend(self._deliver(st, st.folder.flush(int(batch.t1_ns))))
        return out

    def process(self, batch: Batch) -> list[Alert]:
        """Replay one batch: syscalls and events interleaved in time order, then the batch."""
        out: list[Alert] = []
        if self.config.trace_len > 0:  # traces quote the syscalls before each event
            interleave(batch, self.on_syscalls, lambda evs: out.extend(self.on_events(evs)))
        else:
            self.on_syscalls(batch.syscalls)
            out.extend(self.on_events(batch.events))
        out.extend(self.end_batch(batch))
        return out

    def calibrate_step(self) -> bool:
        """One step of an agent's deferred end-of-baseline calibration; whether any is left.

        The live sensor calls this between drains while the batch interval
        has time left (h7.sensor.sensor.Sensor.run ``on_idle``), one step
        (one CUSUM simulation or one size of L1's size thresholds: a few ms)
        at a time, so the batch that ends a baseline is not held up by ~40 ms
        of calibration per agent and neither are the drains after it.
        Whatever is left when the agent's next batch is judged runs then
        (``_calibrate_all``): the verdicts do not depend on when the steps ran.
        """
        for st in self.agents.values():
            while st.calibrating:
                try:
                    next(st.calibrating[0])
                    return True
                except StopIteration:
                    st.calibrating.pop(0)
        return False

    @staticmethod
    def _calibrate_all(st: AgentState) -> None:
        """Every step left of this agent's end-of-baseline calibration, now."""
        for steps in st.calibrating:
            for _ in steps:
                pass
        st.calibrating.clear()

    # -- internals --------------------------------------------------------
    def _split(self, batch: Batch) -> dict[int, Batch]:
        """Per-agent views of a batch (numpy masks; the single-agent case copies nothing)."""
        agents: set[int] = set(batch.stats)
        ev_groups: dict[int, list[Event]] = {}
        for ev in batch.events:
            ev_groups.setdefault(agent_of(ev), []).append(ev)
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
                procs={a: batch.procs[a]} if a in batch.procs else {},
                tool_split=batch.tool_split & {a},
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

    def _baseline_due(self, st: AgentState, t1_ns: int) -> bool:
        """Has this agent's baseline both its length and enough batches to learn from?

        Batches close on the sensor's clock: when its loop stalls (a slow first
        batch in a 1-vCPU TCG guest took 40 s building L2's binary index; a
        loaded host, swap), one batch covers many intervals.  A baseline
        ended by wall time alone then holds a handful of batches, too few for
        the per-batch models -- L1's CPU windows calibrate on at least five and
        otherwise never judge, silently, for the agent's whole life (session 8's
        CI).  So the baseline runs on until it holds at least
        ``BASELINE_MIN_BATCH_SHARE`` of the batches its length should give, and
        says so; it never runs past ``BASELINE_MAX_STRETCH`` times its length
        (a sensor that cannot keep its interval then is better monitoring with a
        warning than learning forever).
        """
        assert st.t_start is not None
        elapsed, length = t1_ns - st.t_start, self.config.baseline_ns
        if elapsed < length:
            return False
        want = math.ceil(BASELINE_MIN_BATCH_SHARE * length / max(1, self.config.batch_ns))
        if st.batches >= want:
            return True
        have = f"{st.batches} batches in {elapsed / NS_PER_S:.1f} s, {want} wanted"
        if elapsed >= BASELINE_MAX_STRETCH * length:
            self._notice(
                "baseline-short",
                st,
                f"agent {st.ctx.agent_id}: baseline ends with {have}: the sensor could not keep its "
                "batch interval (stalled or starved of CPU); per-batch models may not judge",
                t1_ns,
                level="warning",
                details={"batches": st.batches, "wanted": want},
            )
            return True
        if not st.stretched:
            st.stretched = True
            self._notice(
                "baseline-stretched",
                st,
                f"agent {st.ctx.agent_id}: baseline continues past its length ({have}): "
                "the sensor's batches were stretched (a stall); learning until enough batches",
                t1_ns,
                level="warning",
                details={"batches": st.batches, "wanted": want},
            )
        return False

    def _exited_error(self, st: AgentState) -> BaselineError:
        secs = format_duration(self.config.baseline_ns)
        at = max(0, (st.exited_ns or 0) - (st.t_start or 0)) / NS_PER_S
        return AgentExitedDuringBaseline(
            f"agent {st.ctx.agent_id} exited {at:.1f}s into the {secs} baseline: "
            "not monitoring with an empty model",
            st.ctx.agent_id,
        )

    def _finish_baseline(self, st: AgentState) -> None:
        """End ONE agent's baseline window: refuse an empty model, else calibrate and monitor."""
        secs = format_duration(self.config.baseline_ns)
        aid = st.ctx.agent_id
        if self._checked(st.ctx.agent) and (
            st.syscalls < self.config.min_baseline_syscalls
            or st.active_batches < self.config.min_baseline_active_batches
        ):
            self._fail(
                st,
                AgentIdleDuringBaseline(
                    f"agent {aid} was idle during the {secs} baseline ({st.syscalls} syscalls, "
                    f"{int(st.sched_events)} scheduling events, active in {st.active_batches} of "
                    f"{st.batches} batches): not monitoring with an empty model; "
                    f"baseline while the agent is working, or lengthen --baseline",
                    aid,
                ),
            )
            return
        st.phase = PHASE_MONITORING
        st.ctx.phase = PHASE_MONITORING
        for ch in st.channels:
            if not self.defer_calibration:
                ch.finish_baseline(st.ctx)
            elif (steps := ch.finish_baseline_deferred(st.ctx)) is not None:
                st.calibrating.append(steps)
        self._begin_monitoring(st)
        learnt: dict[str, Any] = {}
        for ch in st.channels:
            if items := ch.learnt_outside_allowlist(st.ctx):
                learnt[ch.name] = items
        self._notice(
            "baseline-complete",
            st,
            f"agent {aid}: baseline complete ({secs}, {st.syscalls} syscalls); "
            f"monitoring {registry.span(self.config.channels)}"
            + (f"; learnt outside the allowlist: {_learnt_line(learnt)}" if learnt else ""),
            st.t_last,
            details=learnt,
        )

    def _fail(self, st: AgentState, err: BaselineError) -> None:
        """An agent's baseline cannot give a model: drop it, restart it, or (strict) stop the run."""
        aid = st.ctx.agent_id
        if isinstance(err, AgentIdleDuringBaseline) and not self.strict:
            # Alive and still matched by a selector, so the sensor will not
            # attach it again: learn again from a fresh window instead.  Fresh
            # channels keep memory bounded for an agent that idles for days.
            st.restarts += 1
            st.channels = self._new_channels()
            st.syscalls = st.active_batches = st.batches = 0
            st.sched_events = 0.0
            st.t_start = None
            if st.restarts == 1:
                self._notice(
                    "baseline-restarted",
                    st,
                    f"{err}; starting its baseline again (model-free checks L2, L5 and the L4 "
                    "allowlist stay on; further restarts are counted in status, not reported)",
                    st.t_last,
                    "warning",
                )
            return
        st.phase = PHASE_DROPPED
        st.dropped = str(err)
        st.channels = []  # nothing to judge with; frees what the baseline had learned
        remaining = [x for x in self._tracked() if x is not st]
        if self.strict and not remaining:
            raise err
        self._notice(
            "dropped",
            st,
            f"{err}; agent {aid} is no longer watched"
            + (f" ({len(remaining)} other agent(s) still are)" if remaining else ""),
            st.t_last,
            "warning",
        )

    def _begin_monitoring(self, st: AgentState) -> None:
        """The agent starts monitoring: tell the source (``on_monitoring``), and hand the agent's
        known windows to the kernel (or to this engine, in a replay)."""
        if self.on_monitoring is not None:
            self.on_monitoring(st.ctx.agent)
        codes = None
        for ch in st.channels:
            codes = ch.kernel_filter()
            if codes is not None:
                break
        if codes is None or codes.size == 0:
            return
        if self.on_filter is not None:
            self.on_filter(st.ctx.agent, codes)
        else:
            st.user_filter = codes

    def _emit(self, st: AgentState, alerts: list[Alert], idle_ns: int | None = None) -> list[Alert]:
        """Channel verdicts -> certificates: through the agent's folder (new keys, storms).

        ``idle_ns``: the per-batch judges' verdicts fold only within an episode
        (``fold_gap``), not for ``fold_idle``.
        """
        out: list[Alert] = []
        for a in alerts:
            accepted = st.accepted_keys.get(a.channel)
            if accepted and a.key in accepted:
                st.accepted_hits[a.channel] += 1  # the operator's signed decision: counted only
                continue
            out.extend(self._deliver(st, st.folder.admit(a, idle_ns)))
        return out

    def _deliver(self, st: AgentState, alerts: list[Alert]) -> list[Alert]:
        out: list[Alert] = []
        for a in alerts:
            a.syscall_trace = st.ring.trace(a.ts_ns, self.config.trace_len)
            st.alerts[a.code] += 1
            self.alerts_emitted += 1
            out.append(a)
            if self.on_alert is not None:
                self.on_alert(a)
        return out

    # -- views ------------------------------------------------------------
    def folding_totals(self) -> dict[str, int]:
        """What folding kept out of individual certificates, for the signed stop record.

        ``folds_not_in_a_certificate``: repeats folded since their channel's last
        certificate -- counted nowhere else in the chain, so the stop record does.
        """
        sts = [st.folder for st in self.agents.values()]
        return {
            "verdicts_folded": sum(f.folded_total for f in sts),
            "verdicts_held_in_storms": sum(f.held_total for f in sts),
            "storm_certificates": sum(f.aggregates for f in sts),
            "folds_not_in_a_certificate": sum(sum(f.pending_channel_folds().values()) for f in sts),
        }

    @property
    def suppressed_total(self) -> int:
        """Channel verdicts that did not get a certificate of their own (folded or held in a storm)."""
        return sum(st.folder.folded_total + st.folder.held_total for st in self.agents.values())

    @property
    def phase(self) -> str:
        """``monitoring`` once every current agent is, ``waiting`` with no agent, else ``baseline``.

        "Current" is the declared agents that were not dropped (all agents if
        none was declared); an agent that exited after its baseline still
        counts as monitoring.
        """
        sts = self._tracked()
        if not sts:
            return PHASE_WAITING
        if all(st.phase == PHASE_MONITORING for st in sts):
            return PHASE_MONITORING
        return PHASE_BASELINE

    def baseline_progress(self) -> float:
        """The least-advanced current agent's baseline fraction (1.0 monitoring, 0.0 waiting).

        The least advanced, because that is when :attr:`phase` turns to
        ``monitoring``; each agent's own fraction is in :meth:`status`.
        """
        sts = self._tracked()
        if not sts:
            return 0.0
        return min(st.progress(self.config.baseline_ns) for st in sts)

    def status(self) -> dict[str, Any]:
        bns = self.config.baseline_ns
        return {
            "phase": self.phase,
            "baseline_progress": round(self.baseline_progress(), 4),
            "batches": self.batches,
            "monitor_batches": self.monitor_batches,
            "alerts": self.alerts_emitted,
            "suppressed": self.suppressed_total,
            "drops": dict(self.drops),
            "notices": [n.to_dict() for n in self.recent_notices],
            "agents": {
                st.ctx.agent_id: {
                    "phase": st.phase,
                    "baseline_progress": round(st.progress(bns), 4),
                    "baseline_start_ns": st.t_start,
                    "baseline_restarts": st.restarts,
                    "baseline_loaded_from": st.loaded_from,
                    "dropped": st.dropped,
                    "syscalls_in_baseline": st.syscalls,
                    "alerts": dict(st.alerts),
                    "folding": st.folder.status(),
                    # operator-accepted alert keys (L2) and the verdicts they kept from certificates
                    "accepted": {
                        ch: {"keys": sorted(keys), "verdicts": st.accepted_hits[ch]}
                        for ch, keys in st.accepted_keys.items()
                    },
                    "exited": st.exited_ns is not None,
                    # alerts per channel: certificates emitted for the channel's codes (storm
                    # aggregates included), from the same counters as "alerts" above
                    "channels": {
                        ch.name: {**ch.status(), "alerts": _channel_alerts(st.alerts, ch.name)}
                        for ch in st.channels
                    },
                }
                for st in self.agents.values()
            },
        }

    # -- baseline persistence ---------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """The models of every agent that is monitoring (agents still learning are left out)."""
        done = [st for st in self.agents.values() if st.phase == PHASE_MONITORING]
        for st in done:
            self._calibrate_all(st)  # a saved model is a calibrated one
        if not done:
            raise UsageError("no baseline to save yet: no agent has completed its baseline")
        return baseline.dump(self.config, done)

    def _match_saved(self, st: AgentState, used: set[int], *, by_exe: bool = True) -> int | None:
        exe = st.ctx.info.exe if st.ctx.info is not None else ""
        return baseline.match(self._saved, st.ctx.agent_id, exe, used, by_exe=by_exe)

    def _load_agent(self, st: AgentState, saved: dict[str, Any]) -> None:
        baseline.apply(st, saved)
        self._begin_monitoring(st)

    def load_state(self, state: dict[str, Any]) -> None:
        """Monitor with a saved baseline instead of learning one.

        Each agent of this engine gets a saved model: the one with its
        agent_id, else one with its executable (a restarted program has a new
        pid, so a new agent_id, but the same exe), else -- for the agents
        left -- the saved models left, by position, when there are as many of
        each.  A strict engine refuses an agent left without a model; a
        watching one lets it learn its own baseline.  The saved models are
        kept: an agent added later (:meth:`add_agent`) takes one by agent_id
        or executable.
        """
        saved = baseline.check(state)
        self._saved = list(saved)
        self._saved_used = set()
        if self.strict and not self.agents and len(saved) == 1:
            try:
                self._state(int(saved[0]["agent"]))
            except (KeyError, TypeError, ValueError) as e:
                raise UsageError(f"malformed baseline file: {e!r}") from e
        mine = [st for st in self.agents.values() if st.phase != PHASE_DROPPED]
        pairs: dict[int, int] = {}  # index in mine -> index in saved
        taken: set[int] = set()
        for by_exe in (False, True):  # every agent_id match first, so exe cannot steal one
            for k, st in enumerate(mine):
                if k not in pairs:
                    m = self._match_saved(st, taken, by_exe=by_exe)
                    if m is not None:
                        pairs[k] = m
                        taken.add(m)
        left = [k for k in range(len(mine)) if k not in pairs]
        spare = [i for i in range(len(saved)) if i not in taken]
        if left and len(left) == len(spare):
            for k, i in zip(left, spare, strict=True):
                pairs[k] = i
                taken.add(i)
            left = []
        if left and self.strict:
            raise UsageError(f"the baseline file has no model for agent {mine[left[0]].ctx.agent_id}")
        for k, i in sorted(pairs.items()):
            st = mine[k]
            self._load_agent(st, saved[i])
            st.loaded_from = str(saved[i].get("agent_id", ""))
        self._saved_used = taken

    def save_baseline(self, path: str | os.PathLike[str]) -> None:
        baseline.write(path, self.to_state())

    def load_baseline(self, path: str | os.PathLike[str]) -> None:
        state = baseline.read(path)
        try:
            self.load_state(state)
        except H7Error:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as e:
            raise UsageError(
                f"{os.fspath(path)} is not a valid baseline file: {type(e).__name__}: {e}"[:300]
            ) from None


def _channel_alerts(by_code: collections.Counter[str], channel: str) -> int:
    """Certificates emitted for ``channel``'s codes, from per-code counts."""
    total = 0
    for code, n in by_code.items():
        found = registry.code(code)
        if found is not None and found[0].name == channel:
            total += n
    return total


def _learnt_line(learnt: dict[str, Any]) -> str:
    """``L4 127.0.6.9:ephemeral, 10.0.0.5:443`` (at most 8 per channel) for the baseline-complete line:
    what each item allows (``learnt``), else (an older record) its first destination."""
    parts = []
    for ch, items in learnt.items():
        names = [
            str(i.get("learnt", i.get("destination", i))) if isinstance(i, dict) else str(i) for i in items
        ]
        more = f" (+{len(names) - 8} more)" if len(names) > 8 else ""
        parts.append(f"{ch} {', '.join(names[:8])}{more}")
    return "; ".join(parts)
