"""CLI commands that drive the kernel sensor: attach, record, doctor."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from h7.batch import Batch, Event
from h7.errors import BPFError, H7Error

DEFAULT_BATCH = "1s"


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set a flag the poll loop checks every tick (<= poll_ms)."""
    stop = threading.Event()
    old = {}

    def handler(signum: int, frame: object) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def _syscall_dicts(batch: Batch) -> Iterator[dict[str, Any]]:
    s = batch.syscalls
    for ts, tgid, tid, agent, nr in zip(
        s["ts_ns"].tolist(), s["tgid"].tolist(), s["tid"].tolist(), s["agent"].tolist(), s["nr"].tolist(),
        strict=True,
    ):
        yield {"type": "syscall", "ts_ns": ts, "agent": agent, "pid": tgid, "tid": tid, "nr": nr}


def parse_seconds(text: str) -> float:
    """``30s``, ``500ms``, ``2m``, ``1h`` or a bare number of seconds."""
    t = text.strip().lower()
    units = (("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0))
    for suffix, mult in units:
        if t.endswith(suffix) and t[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(t[: -len(suffix)]) * mult
    if t.replace(".", "", 1).isdigit():
        return float(t)
    raise click.BadParameter(f"{text!r} is not a duration (e.g. 30s, 500ms, 2m)")


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        return parse_seconds(str(value))


DURATION = Duration()


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
@click.argument("pids", nargs=-1, type=int, required=True)
@click.option("--events", "stream_events", is_flag=True, help="Stream decoded kernel events as JSON lines.")
@click.option("--syscalls", is_flag=True, help="With --events, also stream every syscall record (heavy).")
@click.option("--duration", type=DURATION, default=None, help="Stop after this long (e.g. 10s).")
@click.option("--batch", "batch_s", type=DURATION, default=DEFAULT_BATCH, show_default=True)
def attach_cmd(
    pids: tuple[int, ...], stream_events: bool, syscalls: bool, duration: float | None, batch_s: float
) -> None:
    """Watch agent process PID (and every process it starts) from the kernel."""
    if not stream_events:
        from h7.pipeline import run_attach  # the full pipeline: channels -> .cal -> sink

        run_attach(pids, duration=duration, batch_s=batch_s)
        return
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

        reason = sensor.run(
            int(batch_s * 1e9), on_batch, on_events, should_stop=stop.is_set, duration_s=duration
        )
        _emit_json({"type": "detached", "reason": reason, **sensor.ring_counters()})


@click.command("record")
@click.argument("pids", nargs=-1, type=int, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--duration", type=DURATION, default=None, help="Stop after this long (e.g. 60s).")
@click.option("--batch", "batch_s", type=DURATION, default=DEFAULT_BATCH, show_default=True)
def record_cmd(pids: tuple[int, ...], output: Path, duration: float | None, batch_s: float) -> None:
    """Record an agent's decoded kernel activity to a msgpack journal for `h7 replay`."""
    from h7.journal import JournalWriter

    sensor, infos = _open_sensor(pids)
    counts = {"batches": 0, "syscalls": 0, "events": 0}
    with sensor, stop_on_signals() as stop, JournalWriter(output, infos, batch_ns=int(batch_s * 1e9)) as jw:

        def on_batch(batch: Batch) -> None:
            jw.write(batch)
            counts["batches"] += 1
            counts["syscalls"] += len(batch.syscalls)
            counts["events"] += len(batch.events)

        reason = sensor.run(int(batch_s * 1e9), on_batch, should_stop=stop.is_set, duration_s=duration)
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
    hooks: list[dict[str, str]] = []
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
            hooks = [
                {"program": h.program, "section": h.section, "state": h.state, "detail": h.detail}
                for h in sensor.hooks
            ] + hooks
            facts["attach_seconds"] = round(sensor.attach_seconds, 3)
            sensor.close()
    else:
        error = "not root: cannot test-load BPF programs (run as root)"
    if as_json:
        _emit_json({"facts": facts, "hooks": hooks, "error": error})
    else:
        for k, v in facts.items():
            click.echo(f"{k:28} {v}")
        for h in hooks:
            detail = f"  ({h['detail']})" if h.get("detail") else ""
            click.echo(f"hook {h['program']:24} {h.get('section', ''):40} {h['state']}{detail}")
        if error:
            click.echo(f"problem: {error}")
    if error:
        raise SystemExit(3)


COMMANDS = [attach_cmd, record_cmd, doctor_cmd]
