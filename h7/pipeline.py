"""`h7 attach`: the whole path, kernel -> ring -> decode -> channels -> alert -> .cal -> sink.

This module only wires the parts together; each part lives in its own
package.  Two rules shape it:

* detection never waits for delivery: an alert is signed and written durably
  (``h7.cal``), then handed to the spooling sink client, which returns after
  an fsync and delivers in the background;
* nothing is lost quietly: a .cal that cannot be written (full disk) or an
  alert the spool refuses is reported on stderr and counted in the status
  file, and the sensor keeps running.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from h7 import registry
from h7.alert import Alert
from h7.batch import AgentInfo, Batch, Event
from h7.errors import DeliveryError, H7Error, PermissionDenied, StorageError, UsageError
from h7.source import Source

if TYPE_CHECKING:
    from h7.config import Config, EngineConfig
    from h7.detect.agents import Notice
    from h7.detect.engine import Engine
    from h7.journal import RunJournal
    from h7.sensor.selectors import Selector


@dataclass
class AttachOptions:
    pids: tuple[int, ...] = ()
    selectors: tuple[str, ...] = ()  # "pid_file=/run/x.pid", "exe=/usr/bin/node", "cgroup=/system.slice/a"
    duration_s: float | None = None
    batch_ns: int | None = None
    baseline_ns: int | None = None
    baseline_from: Path | None = None
    save_baseline: Path | None = None
    key_path: Path | None = None
    cal_dir: Path | None = None
    sink_socket: Path | None = None
    spool_dir: Path | None = None
    config_path: Path | None = None
    status_path: Path | None = None
    progress: bool = True
    #: called for each alert after it is signed: (alert, cal path, cal bytes)
    on_signed: Callable[[Alert, Path, bytes], None] | None = None
    #: watching pid 1, the root cgroup or a tree holding most of the host needs this
    allow_host_wide: bool = False
    #: also record every batch the engine judges here, for ``h7 replay`` (h7.journal.RunJournal)
    journal: Path | None = None


class Terminal:
    """Progress bar during the baseline, one line per alert after (stderr)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.plain = enabled and not self.enabled
        self._last_pct = -1

    def baseline(self, frac: float, baseline_s: float) -> None:
        pct = int(frac * 100)
        if pct == self._last_pct:
            return
        self._last_pct = pct
        if self.enabled:
            bar = "#" * (pct // 4) + "." * (25 - pct // 4)
            sys.stderr.write(f"\rh7: baseline [{bar}] {pct:3d}% of {baseline_s:g}s")
            if pct >= 100:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif self.plain and pct in (0, 100):
            sys.stderr.write(f"h7: baseline {pct}% of {baseline_s:g}s\n")

    def line(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def _realtime(alert: Alert, offset: int) -> Alert:
    """Kernel timestamps are CLOCK_MONOTONIC; certificates carry CLOCK_REALTIME ns."""
    trace = [{**e, "ts_ns": int(e["ts_ns"]) + offset} if "ts_ns" in e else e for e in alert.syscall_trace]
    return dataclasses.replace(alert, ts_ns=int(alert.ts_ns) + offset, syscall_trace=trace)


def _sign_stop(
    run: Any,
    certifier: Any,
    reason: str,
    failure: str,
    counters: dict[str, int],
    drops: dict[str, int],
    alarm: Callable[[str], None],
) -> None:
    """Write what is held, then SENSOR_STOPPED; if the disk still refuses, leave the run file.

    A run file left behind makes the next start sign SENSOR_RECOVERED, so a
    stop that could not be recorded is not mistaken for a clean one.
    """
    if certifier.pending:
        certifier.retry()
    if certifier.pending:
        alarm(
            f"{certifier.pending} detection(s) still have no certificate at exit (cal directory refuses "
            "writes); the next start records this run as ended without a stop record"
        )
        return
    details = {**counters, "drops": drops, **({"error": failure} if failure else {})}
    try:
        run.stop(
            f"sensor stopped ({reason})" if not failure else f"sensor stopped on error ({reason})", details
        )
    except StorageError as e:
        alarm(f"cannot sign the stop record ({e}); the next start records this run as ended without one")


class AlertOutput(ABC):
    """Where a run's alerts go: the engine's ``on_alert``, and what :func:`run_source` tells it.

    One interface so that every run -- ``h7 attach`` over the kernel, ``h7
    replay`` over a journal -- is the same :func:`run_source`: the live run
    signs and delivers (:class:`AlertPath`), a replay prints
    (``h7.detect.commands``), and neither can drift from the other in what
    reaches the engine or in what it decides.  The hooks a live run needs
    (start record, per-batch housekeeping, operator decisions) do nothing
    here.
    """

    def __init__(self) -> None:
        #: the agents of the run, by id: what a certificate says about its agent
        self.infos: dict[str, AgentInfo] = {}
        #: the source's cumulative lost records (set by run_source)
        self.drops: Callable[[], dict[str, int]] = dict
        #: add to a kernel (CLOCK_MONOTONIC) timestamp for CLOCK_REALTIME (set by run_source)
        self.offset = 0
        self.counters: dict[str, int] = {"alerts": 0}

    @abstractmethod
    def __call__(self, alert: Alert) -> None:
        """One alert, as the engine raises it (kernel time; the output converts if it must)."""

    def start(self, details: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """The run has started, with these agents and settings."""

    def tick(self) -> None:  # noqa: B027 - optional hook
        """Once per batch, before the engine judges it."""

    def baseline_learnt(self, notice: Notice) -> None:  # noqa: B027 - optional hook
        """An agent's baseline ended having learnt what no operator rule allows (``notice.details``)."""

    def apply_operator_records(self, engine: Engine) -> None:  # noqa: B027 - optional hook
        """Once per batch: operator decisions that reached the run since the last one."""

    def status(self) -> dict[str, Any]:
        """Counters for the status file."""
        return dict(self.counters)

    def close(  # noqa: B027 - optional hook
        self, reason: str, failure: str, drops: dict[str, int], extra: dict[str, int]
    ) -> None:
        """The run ended (``failure`` is empty unless it ended on an exception)."""

    def end_line(self, reason: str, drops: dict[str, int]) -> str | None:
        """What to say on stderr when a run that started ends (None: nothing)."""
        return None


class AlertPath(AlertOutput):
    """alert -> signed ``.cal`` (held in memory while the disk refuses) -> spool -> sinkhole.

    Also the chain's other writer and reader during a run: the signed start,
    heartbeat and stop records (:class:`h7.cal.lifecycle.SensorRun`), and
    the operator decisions (``h7 accept``) read back from the same chain.
    Detection never waits here: signing is synchronous and durable, delivery
    is the sink client's background work.
    """

    def __init__(
        self,
        cal_dir: Path,
        key_path: Path,
        sink_socket: Path,
        spool_dir: Path,
        *,
        spool_max_bytes: int,
        max_held: int,
        term: Terminal,
        sinkhole_uid: int | None = None,
        on_signed: Callable[[Alert, Path, bytes], None] | None = None,
    ) -> None:
        from h7.cal import CalWriter
        from h7.cal.follow import ChainFollower
        from h7.cal.lifecycle import Certifier, SensorRun
        from h7.sink.client import SinkClient

        super().__init__()
        self.term = term
        self.on_signed = on_signed
        # HEAD is persisted after the alert is queued for the sinkhole (sync_head below): one
        # fsync fewer between the act and delivery; the certificate is durable either way.
        self.cal = CalWriter(cal_dir, key_path, defer_head=True)
        # Operator decisions (h7 accept) arrive as signed records in the same chain.
        self.follower = ChainFollower(self.cal.cal_dir, self.cal.public_key, self.cal.head[0])
        self.accepted: list[dict[str, Any]] = []
        self.sink = SinkClient(sink_socket, spool_dir, spool_max_bytes, sinkhole_uid=sinkhole_uid)
        self.counters = {"alerts": 0, "cal_failed": 0, "sink_refused": 0}
        self.run = SensorRun(self.cal)
        # Certificates wait in bounded memory while the cal disk refuses writes;
        # detection never stops for them (see h7.cal.lifecycle.Certifier).
        self.certifier = Certifier(self.cal, self.run, self.alarm, max_held=max_held)
        self.offset = time.time_ns() - time.monotonic_ns()
        # Certified alerts the spool's disk refused (ENOSPC, EIO): in order, bounded, retried.
        self.unspooled: collections.deque[tuple[dict[str, Any], Path, bytes]] = collections.deque()
        self.max_unspooled = max_held
        self._spool_alarm_t = 0.0

    def alarm(self, msg: str) -> None:
        self.term.line(f"h7: ALARM: {msg}")

    def start(self, details: dict[str, Any]) -> None:
        """Sign the run's start record (and a recovery record for a run that ended without one)."""
        cal = self.cal

        def start_record() -> tuple[Path, bytes]:
            self.run.start(details)
            return cal.cal_dir, b""

        self.certifier.submit(start_record, lambda p, d: None, {"channel": "start", "ts_ns": time.time_ns()})
        for rec in self.run.recovered:
            prev_pid, down_s = rec["previous_sensor"]["pid"], rec["down_ns_at_most"] / 1e9
            self.term.line(
                f"h7: warning: a previous sensor run (pid {prev_pid}) ended without a stop record; "
                f"signed SENSOR_RECOVERED (unmonitored for at most {down_s:.1f} s)"
            )

    def baseline_learnt(self, notice: Notice) -> None:
        """Sign BASELINE_LEARNT: what the agent's baseline allowed that no allowlist does.

        Not an alert (nothing is delivered to the sinkhole; harnesses that count detections skip
        it): a record in the same signed chain as the certificates, read with ``h7 verify`` /
        ``h7 show``, so a destination an attacker contacted while the sensor learnt is on record.
        """
        from h7.cal.format import BASELINE_LEARNT

        cal, run = self.cal, self.run
        info = self.infos.get(notice.agent_id)
        details = {
            "agent_id": notice.agent_id,
            "agent_pid": info.root_pid if info is not None else 0,
            "baseline_end_ns": notice.ts_ns + self.offset,
            "learnt": notice.details,
            "review": "allowed from now on only because seen during the baseline: accept them "
            "(h7 accept / l4_allow) or set [detect.l4] allow_baseline_destinations = false",
        }

        def write() -> tuple[Path, bytes]:
            return cal.record_lifecycle(
                BASELINE_LEARNT,
                run.identity,
                f"agent {notice.agent_id}: baseline learnt outside the allowlist",
                details,
            )

        self.certifier.submit(write, lambda p, d: None, {"channel": "baseline", "ts_ns": time.time_ns()})

    def __call__(self, alert: Alert) -> None:
        """The engine's ``on_alert``: certify, then deliver."""
        from h7.cal.format import seq_from_name

        info = self.infos.get(alert.agent_id)
        if info is None:  # cannot happen for agents we attached; keep the alert anyway
            info = AgentInfo(0, alert.agent_id, 0, "", [], 0)
        a = _realtime(alert, self.offset)
        drops = self.drops()
        self.counters["alerts"] += 1
        line = (
            f"h7: ALERT {a.channel} {a.code} agent={a.agent_id} divergence={a.divergence:.3g} "
            f"threshold={a.threshold:.3g} key={a.key}"
        )
        cal, term = self.cal, self.term

        def write() -> tuple[Path, bytes]:
            path, data = cal.emit(a, info, drops)
            seq = seq_from_name(path.name)
            if seq is not None:
                self.follower.skip(seq)  # our own certificate: the chain follower need not read it back
            return path, data

        def deliver(path: Path, data: bytes) -> None:
            """Only certified alerts go to the sinkhole: it verifies the certificate."""
            summary = {**a.summary(), "host": cal.host, "cal_path": str(path)}
            if self.unspooled or not self._spool(summary, path, data):
                self._hold_for_spool(summary, path, data)
            with contextlib.suppress(StorageError):
                cal.sync_head()  # a HEAD left behind is rolled forward at the next start
            if certified_now:
                term.line(f"{line} -> {path}")
            else:
                term.line(f"h7: certified held alert {a.channel} {a.code} agent={a.agent_id} -> {path}")
            if self.on_signed is not None:
                self.on_signed(a, path, data)

        certified_now = True
        if not self.certifier.submit(write, deliver, a.summary()):
            certified_now = False
            self.counters["cal_failed"] += 1
            term.line(f"{line} -> certificate pending (cal directory refuses writes)")

    def _spool(self, summary: dict[str, Any], path: Path, data: bytes) -> bool:
        """Hand one certified alert to the spool; False if the spool's disk refused (retry later)."""
        try:
            self.sink.submit(summary, str(path), data)
        except DeliveryError as e:  # a full spool budget: refused loudly, the .cal stays on disk
            self.counters["sink_refused"] += 1
            self.term.line(f"h7: ALARM: alert not queued for delivery ({e}); the .cal is at {path}")
        except StorageError as e:  # ENOSPC/EIO under the spool: hold it, keep detecting
            now = time.monotonic()
            if now - self._spool_alarm_t >= 10.0:
                self._spool_alarm_t = now
                self.alarm(
                    f"cannot spool alerts ({e}); {len(self.unspooled) + 1} certified alert(s) held in "
                    f"memory (max {self.max_unspooled}), still detecting, retrying every batch"
                )
            return False
        return True

    def _hold_for_spool(self, summary: dict[str, Any], path: Path, data: bytes) -> None:
        if len(self.unspooled) < self.max_unspooled:
            self.unspooled.append((summary, path, data))
        else:
            # Bounded memory: beyond it the alert is not delivered, but its certificate is
            # on disk and in the chain (verify finds it); counted and said.
            self.counters["unspooled_dropped"] = self.counters.get("unspooled_dropped", 0) + 1
            self.alarm(
                f"alert for {path} not delivered: spool disk refuses and memory holds {len(self.unspooled)}"
            )

    def _retry_spool(self) -> None:
        for _ in range(len(self.unspooled)):
            summary, path, data = self.unspooled[0]
            if not self._spool(summary, path, data):
                return
            self.unspooled.popleft()
            if not self.unspooled:
                self.alarm("alerts are being spooled again")

    def tick(self) -> None:
        """Once per batch: heartbeat, and another try at certificates and spool entries held back."""
        self.run.heartbeat()
        if self.certifier.pending:
            self.certifier.retry()
        if self.unspooled:
            self._retry_spool()

    def apply_operator_records(self, engine: Engine) -> None:
        """Signed operator decisions appended to the chain since the last batch."""
        from h7.cal.format import ACCEPTED_BY_OPERATOR

        for cert in self.follower.poll():
            if cert.action != ACCEPTED_BY_OPERATOR:
                continue
            acc = cert.body["accept"]
            try:
                # a record signed before accepts named a protocol was protocol-blind: read it so
                n = engine.accept(
                    cert.agent_id, str(acc["channel"]), str(acc["key"]), str(acc.get("protocol", "any"))
                )
            except UsageError as e:
                self.term.line(f"h7: warning: cannot apply the accept in seq {cert.seq}: {e}")
                continue
            op = cert.body["operator"]
            self.accepted.append(
                {
                    "seq": cert.seq,
                    "agent_id": cert.agent_id,
                    "channel": acc["channel"],
                    "key": acc["key"],
                    "protocol": acc.get("protocol", "any"),
                    "login": op["login"],
                    "agents": n,
                }
            )
            self.term.line(
                f"h7: operator {op['login']} accepted {acc['channel']} {acc['key']} for {cert.agent_id} "
                f"(seq {cert.seq}): applied to {n} agent(s)"
            )
        for r in self.follower.rejected:
            self.term.line(f"h7: warning: not acting on {r}")
        self.follower.rejected.clear()

    def status(self) -> dict[str, Any]:
        return {
            **self.counters,
            "cal_held": len(self.certifier.held),
            "cal_uncertified": self.certifier.lost,
            "spool_held": len(self.unspooled),
            "accepted": self.accepted[-50:],
            "sink": self.sink.stats(),
        }

    def close(self, reason: str, failure: str, drops: dict[str, int], extra: dict[str, int]) -> None:
        """Sign the stop record, let the spool drain briefly, release the chain."""
        _sign_stop(self.run, self.certifier, reason, failure, {**self.counters, **extra}, drops, self.alarm)
        if self.unspooled:
            self._retry_spool()
        if self.unspooled:
            self.alarm(
                f"{len(self.unspooled)} certified alert(s) could not be spooled (spool disk refuses) and "
                "are not delivered; their certificates are in the cal directory"
            )
        self.sink.flush(timeout=3.0)
        self.sink.close()
        self.cal.close()

    def end_line(self, reason: str, drops: dict[str, int]) -> str:
        return (
            f"h7: detached ({reason}): {self.counters['alerts']} alert(s), drops {drops}, "
            f"spool {self.sink.stats().get('spool_depth', '?')}"
        )


class StatusReporter:
    """The status file ``h7 status`` reads.

    Written when something an operator reads changed, else every 2 s.
    """

    def __init__(self, path: Path, say: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.say = say
        self.failing = False  # the last write failed (said once, and once when it works again)
        self.started = time.time()
        self._last_t = 0.0
        self._last_key: Any = None

    def update(self, engine: Engine, source: Source, alerts: AlertOutput, force: bool = False) -> None:
        from h7.sensor.status import write_status

        key = (
            engine.phase,
            alerts.counters["alerts"],
            len(alerts.infos),
            round(engine.baseline_progress(), 1),
        )
        now = time.monotonic()
        if not force and key == self._last_key and now - self._last_t < 2.0:
            return
        self._last_t, self._last_key = now, key
        a = alerts.status()
        doc = {
            "pid": os.getpid(),
            "started": self.started,
            "updated": time.time(),
            "engine": engine.status(),
            "agents": [i.to_dict() for i in alerts.infos.values()],
            **{
                k: a.get(k, 0)
                for k in ("alerts", "cal_failed", "cal_held", "cal_uncertified", "sink_refused", "spool_held")
            },
            "accepted": a.get("accepted", []),
            "sink": a.get("sink", {}),
            "ring": source.counters(),
            # which mode each gap runs in and which programs attached: the same answer as
            # `h7 doctor`, from this run's own load (the red-team harness reads it from here)
            **source.kernel_hooks(),
            "nice": os.getpriority(os.PRIO_PROCESS, 0),  # [sensor] priority_boost took effect or not
            "realtime": os.sched_getparam(0).sched_priority,  # [sensor] realtime: 0 when off or dropped
        }
        # status is a convenience; never stop detection for it, but say when `h7 status` goes stale
        try:
            write_status(self.path, doc)
        except (OSError, H7Error) as e:
            if not self.failing and self.say is not None:
                self.say(f"h7: warning: status file not updated, detection goes on: {e}")
            self.failing = True
            return
        if self.failing and self.say is not None:
            self.say(f"h7: status file {self.path} is updated again")
        self.failing = False


class Monitor:
    """The :class:`h7.source.BatchHandler` of a run: the source's batches through the engine.

    Per drain, syscalls and events go straight to the engine (the urgent path
    alerts within milliseconds); per batch, the alert path's housekeeping,
    operator decisions, the engine's judgement, new agents, notices, the
    baseline's progress and the status file.
    """

    def __init__(
        self,
        engine: Engine,
        source: Source,
        alerts: AlertOutput,
        reporter: StatusReporter | None,
        term: Terminal,
        *,
        save_baseline: Path | None = None,
        announced: bool = False,
        journal: RunJournal | None = None,
    ) -> None:
        self.engine = engine
        self.source = source
        self.alerts = alerts
        self.reporter = reporter
        self.term = term
        self.save_baseline = save_baseline
        #: a --save-baseline that failed: monitoring went on, the run ends with this error
        self.save_error: StorageError | None = None
        self._announced = announced
        self.journal = journal

    def on_syscalls(self, arr: np.ndarray) -> None:
        self.engine.on_syscalls(arr)

    def on_events(self, events: list[Event]) -> None:
        self.engine.on_events(events)

    def on_idle(self) -> bool:
        """Between drains, with the batch not yet due: a step of an ended baseline's calibration."""
        return self.engine.calibrate_step()

    def on_batch(self, batch: Batch) -> None:
        from h7._memory import release_free_memory
        from h7.detect.engine import PHASE_BASELINE, PHASE_MONITORING

        engine, term = self.engine, self.term
        self.alerts.tick()
        self.alerts.apply_operator_records(engine)
        engine.sample_procs(batch)  # per-process CPU (L1's attribution), journalled with the batch
        if self.journal is not None:  # as the engine receives it, before it is judged
            self.journal.write(batch)
        engine.end_batch(batch)
        del batch  # the batch's arrays and event dicts go before the trim below
        release_free_memory()
        for agent in self.source.retire_agents():
            engine.retire_agent(agent)
        for info in self.source.new_agents():
            self.alerts.infos[info.agent_id] = info
            engine.add_agent(info)
        for n in engine.take_notices():  # per-agent baseline done / restarted / agent dropped
            term.line(f"h7: warning: {n}" if n.level == "warning" else f"h7: {n}")
            if n.kind == "baseline-complete" and n.details:
                self.alerts.baseline_learnt(n)
        baseline_s = engine.config.baseline_ns / 1e9
        if engine.phase == PHASE_BASELINE:
            term.baseline(engine.baseline_progress(), baseline_s)
        elif engine.phase == PHASE_MONITORING and not self._announced:  # not while "waiting"
            term.baseline(1.0, baseline_s)
            self._announced = True
            term.line(f"h7: baseline complete; monitoring {registry.span(engine.config.channels)}")
            if self.save_baseline is not None:
                try:
                    engine.save_baseline(self.save_baseline)
                    term.line(f"h7: baseline saved to {self.save_baseline}")
                except StorageError as e:  # a full disk must not end monitoring
                    self.save_error = e
                    term.line(f"h7: warning: baseline not saved, monitoring goes on: {e}")
        if self.reporter is not None:
            self.reporter.update(engine, self.source, self.alerts)


def run_source(
    source: Source,
    econf: EngineConfig,
    alerts: AlertOutput,
    term: Terminal,
    *,
    reporter: StatusReporter | None = None,
    baseline_from: Path | None = None,
    save_baseline: Path | None = None,
    duration_s: float | None = None,
    start_details: dict[str, Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    journal: RunJournal | None = None,
) -> tuple[Engine, str]:
    """Open ``source``, learn or load the baseline, monitor until the source ends; (engine, reason).

    The same for the live sensor (``h7 attach``) and a journal (``h7
    replay``, tests).  Raises :class:`BaselineError` when a fixed set of
    agents ended before any was monitored.  ``alerts`` is closed here when
    the run ends, and so is ``source``; ``journal`` (its header written
    here, once the agents are known) is the caller's to close.
    """
    from h7.config import format_duration
    from h7.detect.engine import PHASE_MONITORING, BaselineError, Engine

    reason = "error"  # replaced by run()'s own reason when it returns normally
    failure = ""
    engine: Engine | None = None
    try:
        if econf.read_proc:  # live: channels' host indexes build while the sensor loads (L2)
            registry.prepare(econf)
        for info in source.open():
            alerts.infos[info.agent_id] = info
        alerts.drops = source.drops
        alerts.offset = source.clock_offset_ns()
        if journal is not None:
            journal.start(
                list(alerts.infos.values()),
                econf.batch_ns,
                {
                    "recorded_by": "h7 attach --journal",
                    # wall = kernel + this, the very offset the certificates' ts_ns got: lines the
                    # batches and a replay's alerts up with the run's certificates and wall-clock marks
                    "wall_minus_mono_ns": int(alerts.offset),
                    "baseline_ns": econf.baseline_ns,
                    "baseline_from": str(baseline_from or ""),
                },
            )

        def on_filter(agent: int, codes: np.ndarray) -> None:
            """The engine's known windows go into the kernel: it stops shipping them."""
            f = source.set_sequence_filter(agent, codes)
            term.line(
                f"h7: {f.get('agent_id', agent)}: the kernel now ships only unusual syscalls "
                f"({f['known_windows']} known windows filtered in the kernel; filter false-positive "
                f"rate {f['false_positive_rate']:.1e})"
            )

        # Watching selectors, agents come and go: a failed baseline drops or
        # restarts that agent (notices) instead of ending the run.
        engine = Engine(
            econf,
            list(alerts.infos.values()),
            on_alert=alerts,
            strict=not source.watching,
            on_filter=on_filter if source.filters_in_kernel else None,
            on_monitoring=source.mark_tool_runs,
        )
        # live, the sensor loop's idle time runs the costly end of each baseline (calibrate_step);
        # a journal's batches come back to back, so a replay calibrates in the batch, as always
        engine.defer_calibration = source.idles
        if baseline_from is not None:
            engine.load_baseline(baseline_from)
            term.line(f"h7: baseline loaded from {baseline_from}; monitoring {registry.span(econf.channels)}")
        alerts.start(
            {
                "agents": sorted(alerts.infos),
                "baseline_from": str(baseline_from or ""),
                **(start_details or {}),
            }
        )
        monitor = Monitor(
            engine,
            source,
            alerts,
            reporter,
            term,
            save_baseline=save_baseline,
            announced=baseline_from is not None,
            journal=journal,
        )
        reason = source.run(econf.batch_ns, monitor, should_stop=should_stop, duration_s=duration_s)
        if not source.watching and engine.phase != PHASE_MONITORING:
            raise BaselineError(
                f"{source.end_phrase(reason)} {engine.baseline_progress() * 100:.0f}% into the "
                f"{format_duration(econf.baseline_ns)} baseline: no model, nothing was monitored "
                "(use a shorter --baseline or --baseline-from)"
            )
        if reporter is not None:
            reporter.update(engine, source, alerts, force=True)
        if monitor.save_error is not None:
            raise monitor.save_error  # the run went on; the file asked for is still not there
        return engine, reason
    except BaseException as e:
        failure = f"{type(e).__name__}: {e}"[:500]
        raise
    finally:
        drops = source.drops()
        source.close()
        folding = engine.folding_totals() if engine is not None else {}
        alerts.close(reason, failure, drops, {**_source_counters(source), **folding})
        end = alerts.end_line(reason, drops) if engine is not None else None
        if end is not None:
            term.line(end)


def _source_counters(source: Source) -> dict[str, int]:
    """What the stop record reports about the source besides drops."""
    return {"host_wide_skipped": int(getattr(source, "host_wide_skipped", 0))}


def boost_priority(boost: int) -> tuple[int, str]:
    """Lower this process's nice value by ``boost`` (auditd's ``priority_boost``); (nice now, error).

    Why: an alert's path from the kernel event to a durable, signed .cal is
    ~3-5 ms of this process's CPU, and on a host whose cores are busy it
    waits for them: L5's act -> .cal went from ~6 ms to 15-30 ms at load 7
    (docs/performance.md, session 8), while the disk's share stayed under
    1 ms.  A few nice levels let the sensor's short bursts of work run before
    the neighbours' long ones; it uses little CPU on average (idle < 1 %).
    Called once, early in ``h7 attach`` and before the sensor starts its own
    threads (the sink client's): Linux keeps nice per thread and new threads
    inherit their creator's (a library's idle pool started at import, such
    as OpenBLAS's, keeps the old value; it does no urgent work).  A
    failure (no CAP_SYS_NICE, a seccomp or container policy) is returned,
    never raised: detection does not depend on it.
    """
    before = os.getpriority(os.PRIO_PROCESS, 0)
    if boost <= 0:
        return before, ""
    want = max(-20, before - boost)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, want)
    except OSError as e:
        return (
            before,
            f"cannot raise the sensor's priority to nice {want} ({e.strerror}); running at nice {before}",
        )
    return os.getpriority(os.PRIO_PROCESS, 0), ""


#: RLIMIT_RTTIME of a real-time sensor, microseconds of CPU its thread may use without sleeping:
#: past the soft limit SIGXCPU puts it back to SCHED_OTHER (_realtime_spent), past the hard one the
#: kernel kills it (a runaway the handler could not stop; systemd restarts the unit)
RT_SOFT_US = 1_000_000
RT_HARD_US = 3_000_000


def _realtime_spent(signum: int, frame: object) -> None:
    """SIGXCPU: the real-time budget is spent; the thread goes back to SCHED_OTHER for good.

    Runs in the main thread (Python delivers signals there), the real-time one.
    Its nice value is what it was before (``priority_boost``): SCHED_FIFO kept it.
    """
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    with contextlib.suppress(OSError):
        os.write(
            2,
            b"h7: warning: the sensor used its real-time budget (1 s of CPU without sleeping);"
            b" it runs at its normal priority from now on\n",
        )


def go_realtime(priority: int) -> str:
    """Run this thread at SCHED_FIFO ``priority`` (``[sensor] realtime``), bounded; the error, or "".

    Why: an alert's way from the kernel event to a durable, signed .cal is
    ~3-5 ms of this thread's CPU, and on a host whose cores are busy its
    wake-ups wait for them: on the 2-core host of docs/performance.md at load
    10-14, 18-20 ms of run-queue wait per L5 certificate at the median, which
    neither nice -12 nor a shorter EEVDF slice removed (session 10); at
    SCHED_FIFO it is 0 and act -> durable .cal went from a median of 25-29 ms
    to 5 ms (session 11).  A real-time thread runs before every normal one,
    so it is bounded: SCHED_RESET_ON_FORK (threads and processes it starts
    later, such as L2's index build, run at SCHED_OTHER and nice 0), and
    RLIMIT_RTTIME (RT_SOFT_US of CPU without sleeping, then SIGXCPU drops it
    to SCHED_OTHER; RT_HARD_US, then the kernel's SIGKILL).  The kernel's own
    real-time throttling (95 % of each CPU by default) stays in force.  Called
    once, early in ``h7 attach``, after ``boost_priority``.  A refusal is
    returned, never raised: detection does not depend on it.
    """
    if priority <= 0:
        return ""
    import resource
    import signal

    try:
        resource.setrlimit(resource.RLIMIT_RTTIME, (RT_SOFT_US, RT_HARD_US))
        signal.signal(signal.SIGXCPU, _realtime_spent)
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    except (OSError, ValueError) as e:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(signal.SIGXCPU, signal.SIG_DFL)
        why = e.strerror if isinstance(e, OSError) else str(e)
        return f"cannot run the sensor at SCHED_FIFO {priority} ({why}); running at its normal priority"
    return ""


def run_attach(opts: AttachOptions) -> int:
    """``h7 attach``: the live sensor as the source of :func:`run_source`; returns the alerts emitted."""
    from h7._memory import tune_allocator

    tune_allocator()
    from h7.config import load
    from h7.sensor import selectors
    from h7.sensor.source import check_targets

    cfg = load(opts.config_path)
    econf = cfg.detect
    if opts.baseline_ns is not None:
        econf = dataclasses.replace(econf, baseline_ns=opts.baseline_ns)
    if opts.batch_ns is not None:
        econf = dataclasses.replace(econf, batch_ns=opts.batch_ns)
    key_path = opts.key_path or cfg.sensor.key
    sels = [selectors.parse(x) for x in (*opts.selectors, *cfg.agents)]
    if not opts.pids and not sels:
        raise UsageError(
            "name at least one agent: a pid, --pid-file, --exe or --cgroup (or [[agent]] in the config)"
        )
    if os.geteuid() != 0:
        raise PermissionDenied(
            "h7 attach needs root: it loads BPF programs and signs with the host key (use sudo)"
        )
    check_targets(opts.pids, sels, opts.allow_host_wide)
    try:
        os.stat(key_path)
    except FileNotFoundError:
        raise UsageError(
            f"no signing key at {key_path}: create one with `h7 keygen --out {key_path.parent}`"
        ) from None
    except OSError as e:
        raise PermissionDenied(f"cannot reach signing key {key_path}: {e.strerror}") from None
    term = Terminal(opts.progress)
    _, err = boost_priority(cfg.sensor.priority_boost)  # before the sensor starts threads
    if err:
        term.line(f"h7: warning: {err} (set [sensor] priority_boost = 0 to not ask)")
    err = go_realtime(cfg.sensor.realtime)
    if err:
        term.line(f"h7: warning: {err} (set [sensor] realtime = 0 to not ask)")
    journal = None
    if opts.journal is not None:
        from h7.journal import RunJournal

        journal = RunJournal.open(opts.journal, lambda msg: term.line(f"h7: warning: {msg}"))
    try:
        return _attach(opts, cfg, econf, sels, key_path, term, journal)
    finally:
        if journal is not None:
            journal.close()


def _attach(
    opts: AttachOptions,
    cfg: Config,
    econf: EngineConfig,
    sels: list[Selector],
    key_path: Path,
    term: Terminal,
    journal: RunJournal | None,
) -> int:
    """The rest of :func:`run_attach` once the arguments are checked: alert path, sensor, run."""
    from h7.detect.channels.l2_exec import L2Settings
    from h7.sensor.source import SensorSource
    from h7.signals import stop_on_signals

    alerts = AlertPath(
        opts.cal_dir or cfg.sensor.cal_dir,
        key_path,
        opts.sink_socket or cfg.sink.socket,
        opts.spool_dir or cfg.sink.spool_dir,
        spool_max_bytes=cfg.sink.spool_max_bytes,
        max_held=cfg.sensor.max_held_alerts,
        term=term,
        on_signed=opts.on_signed,
        sinkhole_uid=cfg.sink.uid,
    )
    follow = None
    receivers = 0
    if "L2" in econf.channels:
        l2 = econf.settings(L2Settings)
        follow = (l2.handoff_follow, int(l2.handoff_follow_s * 1e9))
        receivers = int(l2.receiver_window_s * 1e9)
    source = SensorSource(
        opts.pids,
        sels,
        allow_host_wide=opts.allow_host_wide,
        follow_daemons=follow,
        receiver_window_ns=receivers,
        egress_repeat_ns=econf.fold_idle_ns,
        say=term.line,
    )
    with stop_on_signals() as stop:
        run_source(
            source,
            econf,
            alerts,
            term,
            reporter=StatusReporter(opts.status_path or cfg.sensor.status, say=term.line),
            baseline_from=opts.baseline_from,
            save_baseline=opts.save_baseline,
            duration_s=opts.duration_s,
            start_details={"selectors": [str(x) for x in sels]},
            should_stop=stop.is_set,
            journal=journal,
        )
    return alerts.counters["alerts"]
