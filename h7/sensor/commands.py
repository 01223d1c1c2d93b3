"""CLI commands that drive the kernel sensor: attach, record, doctor."""

from __future__ import annotations

import faulthandler
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from h7._click import DURATION
from h7.batch import Batch, Event
from h7.errors import BPFError, H7Error, UsageError
from h7.signals import stop_on_signals

DEFAULT_BATCH_NS = 1_000_000_000


def _emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def _syscall_dicts(batch: Batch) -> Iterator[dict[str, Any]]:
    s = batch.syscalls
    for ts, tgid, tid, agent, nr, window in zip(
        s["ts_ns"].tolist(),
        s["tgid"].tolist(),
        s["tid"].tolist(),
        s["agent"].tolist(),
        s["nr"].tolist(),
        s["window"].tolist(),
        strict=True,
    ):
        yield {
            "type": "syscall",
            "ts_ns": ts,
            "agent": agent,
            "pid": tgid,
            "tid": tid,
            "nr": nr,
            "window": f"{window:015x}",  # six 10-bit tokens, newest last (bpf/h7.h)
        }


def _open_sensor(pids: tuple[int, ...]) -> Any:
    from h7.sensor import procfs
    from h7.sensor.sensor import Sensor

    for pid in pids:  # fail on a bad pid before loading anything
        procfs.validate_agent_pid(pid)
    sensor = Sensor()
    sensor.open()
    try:
        infos = [sensor.add_agent(pid) for pid in pids]
    except BaseException:
        sensor.close()
        raise
    return sensor, infos


@click.command("attach")
@click.argument("pids", nargs=-1, type=int)
@click.option(
    "--pid-file",
    "pid_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Agent named by a pid file (re-read every batch).",
)
@click.option(
    "--exe",
    "exes",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Every process running this executable, now and later.",
)
@click.option(
    "--cgroup",
    "cgroups",
    multiple=True,
    help="Every process in this cgroup v2 path (a unit's or container's), now and later.",
)
@click.option("--events", "stream_events", is_flag=True, help="Stream decoded kernel events as JSON lines.")
@click.option("--syscalls", is_flag=True, help="With --events, also stream every syscall record (heavy).")
@click.option("--duration", type=DURATION, default=None, help="Stop after this long (e.g. 10s).")
@click.option("--batch", "batch_ns", type=DURATION, default=None, help="Batch interval [1s].")
@click.option("--baseline", "baseline_ns", type=DURATION, default=None, help="Baseline length [30s].")
@click.option(
    "--baseline-from",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Start from a baseline saved by --save-baseline instead of learning one.",
)
@click.option(
    "--save-baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Save the learnt baselines to this file once monitoring starts.",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Signing key [/var/lib/h7/keys/h7.key].",
)
@click.option(
    "--cal-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where .cal certificates go [/var/lib/h7/cal].",
)
@click.option(
    "--sink",
    "sink_socket",
    type=click.Path(path_type=Path),
    default=None,
    help="Sinkhole socket [/run/h7/alerts.sock].",
)
@click.option(
    "--spool-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Durable queue of alerts for the sinkhole [/var/lib/h7/spool].",
)
@click.option(
    "--status-file",
    "status_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where the sensor writes its state for `h7 status` [/run/h7/status.json].",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML config [/etc/h7/h7.toml].",
)
@click.option(
    "--allow-host-wide",
    is_flag=True,
    help="Allow watching pid 1, cgroup=/ or a tree holding most of the host's processes.",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also record every batch the engine judges to this journal, for `h7 replay`.",
)
def attach_cmd(
    pids: tuple[int, ...],
    pid_files: tuple[str, ...],
    exes: tuple[str, ...],
    cgroups: tuple[str, ...],
    stream_events: bool,
    syscalls: bool,
    duration: int | None,
    batch_ns: int | None,
    **kw: Any,
) -> None:
    """Watch agent process PID (and every process it starts) from the kernel.

    Learns a baseline, then judges every batch on channels L1-L5; each
    detection becomes one signed .cal certificate handed to the sinkhole.
    With --events, only streams the decoded kernel events as JSON lines.
    """
    # A fault in native code (libbpf, the drain, numpy) would otherwise kill the sensor without a
    # word: print the Python stack of every thread to stderr (the sensor's log) before dying.
    faulthandler.enable(all_threads=True)
    duration_s = duration / 1e9 if duration is not None else None
    sels = tuple(
        [f"pid_file={p}" for p in pid_files] + [f"exe={e}" for e in exes] + [f"cgroup={c}" for c in cgroups]
    )
    if stream_events and kw.get("journal") is not None:
        raise UsageError("--journal records what the engine judges; --events runs no engine (use h7 record)")
    if not stream_events:
        from h7.pipeline import AttachOptions, run_attach

        run_attach(AttachOptions(pids=pids, selectors=sels, duration_s=duration_s, batch_ns=batch_ns, **kw))
        return
    if sels:
        from h7.sensor import selectors

        pids = (*pids, *selectors.resolve([selectors.parse(x) for x in sels], set(pids)))
    if not pids:
        raise UsageError(
            "no agent: name a pid, or a --pid-file/--exe/--cgroup that matches a running process"
        )
    if not kw.get("allow_host_wide"):
        from h7.sensor.procfs import host_wide_reason

        for pid in pids:
            if host_wide_reason(pid):
                raise UsageError(
                    f"refusing to watch the whole host: {host_wide_reason(pid)} (--allow-host-wide)"
                )
    interval = batch_ns or 1_000_000_000
    sensor, infos = _open_sensor(pids)
    with sensor, stop_on_signals() as stop:
        for info in infos:
            _emit_json({"type": "attached", **info.to_dict()})

        def on_events(events: list[Event]) -> None:
            for ev in events:
                _emit_json(ev)

        def on_batch(batch: Batch) -> None:
            if syscalls:
                for rec in _syscall_dicts(batch):
                    _emit_json(rec)

        reason = sensor.run(interval, on_batch, on_events, should_stop=stop.is_set, duration_s=duration_s)
        _emit_json({"type": "detached", "reason": reason, **sensor.ring_counters()})


@click.command("record")
@click.argument("pids", nargs=-1, type=int, required=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The journal to write (msgpack; `h7 replay` reads it).",
)
@click.option("--duration", type=DURATION, default=None, help="Stop after this long (e.g. 60s).")
@click.option("--batch", "batch_ns", type=DURATION, default=DEFAULT_BATCH_NS, help="Batch interval [1s].")
def record_cmd(pids: tuple[int, ...], output: Path, duration: int | None, batch_ns: int) -> None:
    """Record an agent's decoded kernel activity to a msgpack journal for `h7 replay`."""
    import socket
    import time

    from h7.journal import JournalHeader, JournalWriter

    sensor, infos = _open_sensor(pids)
    counts = {"batches": 0, "syscalls": 0, "events": 0}
    with (
        sensor,
        stop_on_signals() as stop,
        JournalWriter(
            output, JournalHeader(socket.gethostname(), infos, time.monotonic_ns(), batch_ns), fsync=True
        ) as jw,
    ):

        def on_batch(batch: Batch) -> None:
            jw.write(batch)
            counts["batches"] += 1
            counts["syscalls"] += len(batch.syscalls)
            counts["events"] += len(batch.events)

        duration_s = duration / 1e9 if duration is not None else None
        reason = sensor.run(batch_ns, on_batch, should_stop=stop.is_set, duration_s=duration_s)
        drops = sensor.drops()
    click.echo(
        f"h7: recorded {counts['batches']} batches, {counts['events']} events, "
        f"{counts['syscalls']} syscalls to {output} ({reason}; drops {drops})",
        err=True,
    )


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor_cmd(as_json: bool) -> None:
    """Report the kernel's BPF facts and which of H7's hooks load here, and why not."""
    from h7.sensor.sensor import Sensor, kernel_facts

    facts: dict[str, Any] = kernel_facts()
    hooks: list[dict[str, Any]] = []
    gaps: dict[str, Any] = {}
    error = ""
    if facts["root"]:
        sensor = Sensor()
        try:
            sensor.open()
        except H7Error as e:
            error = str(e)
            if isinstance(e, BPFError) and e.program:
                hooks.append({"program": e.program, "state": "failed", "detail": str(e)})
        finally:
            insns = sensor.verified_insns()
            hooks = [
                {"program": h.program, "section": h.section, "state": h.state, "detail": h.detail}
                | ({"verified_insns": insns[h.program]} if h.program in insns else {})
                for h in sensor.hooks
            ] + hooks
            gaps = dict(sensor.gap_modes)
            facts["attach_seconds"] = round(sensor.attach_seconds, 3)
            if insns:
                # the verifier's work for the whole object: what a kernel upgrade can push past its limit
                facts["verified_insns"] = sum(insns.values())
            sensor.close()
    else:
        error = "not root: cannot test-load BPF programs (run as root)"
    if as_json:
        _emit_json({"facts": facts, "hooks": hooks, "gaps": gaps, "error": error})
    else:
        for k, v in facts.items():
            click.echo(f"{k:28} {v}")
        for h in hooks:
            detail = f"  ({h['detail']})" if h.get("detail") else ""
            walked = f"  [{h['verified_insns']} insns verified]" if "verified_insns" in h else ""
            click.echo(f"hook {h['program']:24} {h.get('section', ''):40} {h['state']}{walked}{detail}")
        for name, g in gaps.items():
            # which mode each kernel-visibility gap (issue 13) runs in, and the hooks that see it
            seen_by = ", ".join(g["hooks"]) or "no hook: not seen in this mode"
            click.echo(f"gap {g['gap']} {name:16} {g['mode']:10} {seen_by}")
        if error:
            click.echo(f"problem: {error}")
    if error:
        raise SystemExit(3)


COMMANDS = [attach_cmd, record_cmd, doctor_cmd]
