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

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from h7 import registry
from h7.alert import Alert
from h7.batch import AgentInfo, Batch, Event
from h7.errors import DeliveryError, H7Error, PermissionDenied, StorageError, UsageError


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


def run_attach(opts: AttachOptions) -> int:
    """Run the sensor until stopped; returns the number of alerts emitted."""
    from h7._memory import release_free_memory, tune_allocator

    tune_allocator()
    from h7.cal import CalWriter
    from h7.cal.follow import ChainFollower
    from h7.cal.format import ACCEPTED_BY_OPERATOR, seq_from_name
    from h7.cal.lifecycle import Certifier, SensorRun
    from h7.config import load
    from h7.detect.channels.l2_exec import L2Settings
    from h7.detect.engine import PHASE_BASELINE, PHASE_MONITORING, BaselineError, Engine
    from h7.sensor import procfs, selectors
    from h7.sensor.commands import stop_on_signals
    from h7.sensor.sensor import Sensor
    from h7.sink.client import SinkClient
    from h7.sink.status import write_status

    cfg = load(opts.config_path)
    econf = cfg.detect
    if opts.baseline_ns is not None:
        econf = dataclasses.replace(econf, baseline_ns=opts.baseline_ns)
    if opts.batch_ns is not None:
        econf = dataclasses.replace(econf, batch_ns=opts.batch_ns)
    key_path = opts.key_path or cfg.sensor.key
    cal_dir = opts.cal_dir or cfg.sensor.cal_dir
    sock = opts.sink_socket or cfg.sink.socket
    spool_dir = opts.spool_dir or cfg.sink.spool_dir
    status_path = opts.status_path or cfg.sensor.status

    sels = [selectors.parse(x) for x in (*opts.selectors, *cfg.agents)]
    if not opts.pids and not sels:
        raise UsageError(
            "name at least one agent: a pid, --pid-file, --exe or --cgroup (or [[agent]] in the config)"
        )
    if os.geteuid() != 0:
        raise PermissionDenied(
            "h7 attach needs root: it loads BPF programs and signs with the host key (use sudo)"
        )
    for pid in opts.pids:  # one clear line for a bad pid before anything is loaded
        procfs.validate_agent_pid(pid)
    if not opts.allow_host_wide:
        for s in sels:
            if s.kind == "cgroup" and s.value == "/":
                raise UsageError(
                    "cgroup=/ is the whole host: every process would be an agent; "
                    "pass --allow-host-wide if that is really meant"
                )
        for pid in (*opts.pids, *selectors.resolve(sels, set(opts.pids))):
            why = procfs.host_wide_reason(pid)
            if why:
                raise UsageError(
                    f"refusing to watch the whole host: {why}; H7 would alert on other users' processes. "
                    "Name the agent's own pid, or pass --allow-host-wide if that is really meant"
                )
    watching = any(s.watches_new for s in sels)
    try:
        os.stat(key_path)
    except FileNotFoundError:
        raise UsageError(
            f"no signing key at {key_path}: create one with `h7 keygen --out {key_path.parent}`"
        ) from None
    except OSError as e:
        raise PermissionDenied(f"cannot reach signing key {key_path}: {e.strerror}") from None
    # HEAD is persisted after the alert is queued for the sinkhole (sync_head below): one
    # fsync fewer between the act and delivery; the certificate is durable either way.
    cal = CalWriter(cal_dir, key_path, defer_head=True)
    # Operator decisions (h7 accept) arrive as signed records in the same chain.
    follower = ChainFollower(cal.cal_dir, cal.public_key, cal.head[0])
    accepted: list[dict[str, Any]] = []
    sink = SinkClient(sock, spool_dir, cfg.sink.spool_max_bytes)
    term = Terminal(opts.progress)
    offset = time.time_ns() - time.monotonic_ns()
    counters = {"alerts": 0, "cal_failed": 0, "sink_refused": 0, "host_wide_skipped": 0}
    sensor = Sensor()
    infos: dict[str, AgentInfo] = {}
    started = time.time()

    def alarm(msg: str) -> None:
        term.line(f"h7: ALARM: {msg}")

    run = SensorRun(cal)
    # Certificates wait in bounded memory while the cal disk refuses writes;
    # detection never stops for them (see h7.cal.lifecycle.Certifier).
    certifier = Certifier(cal, run, alarm, max_held=cfg.sensor.max_held_alerts)

    def on_alert(alert: Alert) -> None:
        info = infos.get(alert.agent_id)
        if info is None:  # cannot happen for agents we attached; keep the alert anyway
            info = AgentInfo(0, alert.agent_id, 0, "", [], 0)
        a = _realtime(alert, offset)
        drops = sensor.drops() if sensor.obj is not None else {}
        counters["alerts"] += 1
        line = (
            f"h7: ALERT {a.channel} {a.code} agent={a.agent_id} divergence={a.divergence:.3g} "
            f"threshold={a.threshold:.3g} key={a.key}"
        )

        def write() -> tuple[Path, bytes]:
            path, data = cal.emit(a, info, drops)
            seq = seq_from_name(path.name)
            if seq is not None:
                follower.skip(seq)  # our own certificate: the chain follower need not read it back
            return path, data

        def deliver(path: Path, data: bytes) -> None:
            """Only certified alerts go to the sinkhole: it verifies the certificate."""
            summary = {**a.summary(), "host": cal.host, "cal_path": str(path)}
            try:
                sink.submit(summary, str(path), data)
            except DeliveryError as e:
                counters["sink_refused"] += 1
                term.line(f"h7: ALARM: alert not queued for delivery ({e}); the .cal is at {path}")
            with contextlib.suppress(StorageError):
                cal.sync_head()  # a HEAD left behind is rolled forward at the next start
            if certified_now:
                term.line(f"{line} -> {path}")
            else:
                term.line(f"h7: certified held alert {a.channel} {a.code} agent={a.agent_id} -> {path}")
            if opts.on_signed is not None:
                opts.on_signed(a, path, data)

        certified_now = True
        if not certifier.submit(write, deliver, a.summary()):
            certified_now = False
            counters["cal_failed"] += 1
            term.line(f"{line} -> certificate pending (cal directory refuses writes)")

    engine: Engine | None = None
    saved = False

    last_status: dict[str, Any] = {"t": 0.0, "key": None}

    def status(force: bool = False) -> None:
        """Write the status file when something an operator reads changed, else every 2 s."""
        assert engine is not None
        key = (engine.phase, counters["alerts"], len(infos), round(engine.baseline_progress(), 1))
        now = time.monotonic()
        if not force and key == last_status["key"] and now - last_status["t"] < 2.0:
            return
        last_status.update(t=now, key=key)
        doc = {
            "pid": os.getpid(),
            "started": started,
            "updated": time.time(),
            "engine": engine.status(),
            "agents": [i.to_dict() for i in infos.values()],
            "alerts": counters["alerts"],
            "cal_failed": counters["cal_failed"],
            "cal_held": len(certifier.held),
            "cal_uncertified": certifier.lost,
            "sink_refused": counters["sink_refused"],
            "accepted": accepted[-50:],
            "sink": sink.stats(),
            "ring": sensor.ring_counters(),
        }
        # status is a convenience; never stop detection for it
        with contextlib.suppress(OSError, H7Error):
            write_status(status_path, doc)

    def attach_new() -> None:
        """Pick up agents that match a selector and started since the last look."""
        assert engine is not None
        watched = {p for st in sensor.agents.values() for p in st.live}
        for pid in selectors.resolve(sels, watched):
            if not opts.allow_host_wide and procfs.host_wide_reason(pid):
                counters["host_wide_skipped"] += 1
                if counters["host_wide_skipped"] == 1:
                    term.line(f"h7: warning: not watching pid {pid}: {procfs.host_wide_reason(pid)}")
                continue
            try:
                info = sensor.add_agent(pid, selectors.label_for(pid, sels))
            except UsageError:
                continue  # exited between the scan and the attach, or already covered
            infos[info.agent_id] = info
            engine.add_agent(info)
            term.line(f"h7: attached to {info.agent_id} ({info.exe}), matched by a selector")

    def apply_operator_records() -> None:
        """Signed operator decisions appended to the chain since the last batch."""
        assert engine is not None
        for cert in follower.poll():
            if cert.action != ACCEPTED_BY_OPERATOR:
                continue
            acc = cert.body["accept"]
            try:
                n = engine.accept(cert.agent_id, str(acc["channel"]), str(acc["key"]))
            except UsageError as e:
                term.line(f"h7: warning: cannot apply the accept in seq {cert.seq}: {e}")
                continue
            op = cert.body["operator"]
            accepted.append(
                {
                    "seq": cert.seq,
                    "agent_id": cert.agent_id,
                    "channel": acc["channel"],
                    "key": acc["key"],
                    "login": op["login"],
                    "agents": n,
                }
            )
            term.line(
                f"h7: operator {op['login']} accepted {acc['channel']} {acc['key']} for {cert.agent_id} "
                f"(seq {cert.seq}): applied to {n} agent(s)"
            )
        for r in follower.rejected:
            term.line(f"h7: warning: not acting on {r}")
        follower.rejected.clear()

    def on_batch(batch: Batch) -> None:
        nonlocal saved
        assert engine is not None
        run.heartbeat()
        if certifier.pending:
            certifier.retry()
        apply_operator_records()
        engine.end_batch(batch)
        del batch  # the batch's arrays and event dicts go before the trim below
        release_free_memory()
        if watching:
            attach_new()
        for n in engine.take_notices():  # per-agent baseline done / restarted / agent dropped
            term.line(f"h7: warning: {n}" if n.level == "warning" else f"h7: {n}")
        if engine.phase == PHASE_BASELINE:
            term.baseline(engine.baseline_progress(), econf.baseline_ns / 1e9)
        elif engine.phase == PHASE_MONITORING and not saved:  # not while "waiting" for an agent
            term.baseline(1.0, econf.baseline_ns / 1e9)
            saved = True
            term.line(f"h7: baseline complete; monitoring {registry.span(econf.channels)}")
            if opts.save_baseline is not None:
                engine.save_baseline(opts.save_baseline)
                term.line(f"h7: baseline saved to {opts.save_baseline}")
        status()

    def on_events(events: list[Event]) -> None:
        assert engine is not None
        engine.on_events(events)

    def on_syscalls(arr: np.ndarray) -> None:
        assert engine is not None
        engine.on_syscalls(arr)

    def on_filter(agent: int, codes: np.ndarray) -> None:
        """The engine's known windows go into the kernel: it stops shipping them."""
        f = sensor.set_sequence_filter(agent, codes)
        name = sensor.agents[agent].info.agent_id if agent in sensor.agents else str(agent)
        term.line(
            f"h7: {name}: the kernel now ships only unusual syscalls ({f['known_windows']} known "
            f"windows filtered in the kernel; filter false-positive rate {f['false_positive_rate']:.1e})"
        )

    reason = "error"  # replaced by run()'s own reason when it returns normally
    failure = ""
    try:
        sensor.open()
        if "L2" in econf.channels:
            l2 = econf.settings(L2Settings)
            sensor.set_follow_daemons(l2.handoff_follow, int(l2.handoff_follow_s * 1e9))
        ms = sensor.attach_seconds * 1000
        for pid in (*opts.pids, *selectors.resolve(sels, set(opts.pids))):
            info = sensor.add_agent(pid, selectors.label_for(pid, sels))
            infos[info.agent_id] = info
            term.line(f"h7: attached to {info.agent_id} ({info.exe}); programs attached in {ms:.0f} ms")
        if not infos:
            term.line(
                f"h7: programs attached in {ms:.0f} ms; waiting for an agent matching "
                + ", ".join(str(x) for x in sels)
            )
        # Watching selectors, agents come and go: a failed baseline drops or
        # restarts that agent (notices) instead of ending the run.
        engine = Engine(
            econf, list(infos.values()), on_alert=on_alert, strict=not watching, on_filter=on_filter
        )
        if opts.baseline_from is not None:
            engine.load_baseline(opts.baseline_from)
            saved = True
            term.line(
                f"h7: baseline loaded from {opts.baseline_from}; monitoring {registry.span(econf.channels)}"
            )
        start_details = {
            "agents": sorted(infos),
            "selectors": [str(x) for x in sels],
            "baseline_from": str(opts.baseline_from or ""),
        }

        def start_record() -> tuple[Path, bytes]:
            run.start(start_details)
            return cal.cal_dir, b""

        certifier.submit(start_record, lambda p, d: None, {"channel": "start", "ts_ns": time.time_ns()})
        for rec in run.recovered:
            prev_pid, down_s = rec["previous_sensor"]["pid"], rec["down_ns_at_most"] / 1e9
            term.line(
                f"h7: warning: a previous sensor run (pid {prev_pid}) ended without a stop record; "
                f"signed SENSOR_RECOVERED (unmonitored for at most {down_s:.1f} s)"
            )
        with stop_on_signals() as stop:
            reason = sensor.run(
                econf.batch_ns,
                on_batch,
                on_events,
                should_stop=stop.is_set,
                duration_s=opts.duration_s,
                on_syscalls=on_syscalls,
                stop_when_no_agents=not watching,
            )
        if not watching and engine.phase != PHASE_MONITORING:
            why = "exited" if reason == "agent-exited" else f"was stopped ({reason})"
            raise BaselineError(
                f"the agent {why} during the baseline "
                f"({engine.baseline_progress() * 100:.0f}% of {econf.baseline_ns / 1e9:g}s): "
                "no model, nothing monitored"
            )
        status(force=True)
    except BaseException as e:
        failure = f"{type(e).__name__}: {e}"[:500]
        raise
    finally:
        drops = sensor.drops() if sensor.obj is not None else {}
        sensor.close()
        _sign_stop(run, certifier, reason, failure, counters, drops, alarm)
        sink.flush(timeout=3.0)
        sink.close()
        cal.close()
        if engine is not None:
            term.line(
                f"h7: detached ({reason}): {counters['alerts']} alert(s), drops {drops}, "
                f"spool {sink.stats().get('spool_depth', '?')}"
            )
    return counters["alerts"]
