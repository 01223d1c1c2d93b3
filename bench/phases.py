"""Where an alert's time goes inside `h7 attach`: a phase log of the urgent path (bench only).

``bench/latency.py`` gives act -> kernel event -> signing starts -> ``.cal``
visible per act, from the certificate alone.  That cannot say whether a slow
act waited for the CPU, for a batch judgement in progress, for a garbage
collection, for the chain's lock, for Ed25519 or for the disk.  This module
answers it without changing the sensor: run as ``python -m bench.phases LOG
<h7 arguments>``, it wraps a few functions of the sensor process with
CLOCK_REALTIME stamps (the clock of the acts and of the certificates' times)
appended to LOG as JSON lines, then runs the h7 CLI:

* ``poll``: each ``Sensor.poll`` return with events (how many);
* ``events``/``batch``: ``Monitor.on_events`` and ``Monitor.on_batch``, start and end;
* ``alert``: ``AlertPath.__call__``, start and end (the alert's channel);
* ``lock``: the chain's lock taken (``CalWriter._load_head`` under it);
* ``sign``: ``sign_body``; ``fsync``: the certificate's temp file written and fsynced
  (``_fill_synced``; HEAD's too, told apart by size); ``cert``: ``_write_cert``
  (temp, fsync, link, directory fsync) with the certificate's name;
* ``spool``: ``SinkClient.submit``; ``head``: ``CalWriter.sync_head``;
* ``gc``: each garbage collection (generation, duration).

Every stamp also carries the calling thread's CPU time (``c``) and its
run-queue wait so far (``q``: the second field of
``/proc/thread-self/schedstat``, ns spent runnable but not running), so a
step's wall time splits into the sensor's own CPU, waiting for a CPU, and
the rest (blocked: the disk, a lock).  The wrappers cost ~20 us per stamp
(the schedstat read), a few stamps per alert: the log perturbs what it
measures by far less than the tails it is for.  Off unless ``H7_BENCH_PHASES`` is set for
``bench/latency.py``, which then prints :func:`report` for its L5 acts.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO


def _runq_ns() -> int:
    """This thread's total run-queue wait so far (schedstat's run_delay); -1 if the kernel has none."""
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        try:
            return int(os.read(fd, 128).split()[1])
        finally:
            os.close(fd)
    except (OSError, IndexError, ValueError):
        return -1


class PhaseLog:
    """JSON lines of (t_ns, phase, edge, extra) to one file, flushed per line (the sensor may be killed)."""

    def __init__(self, path: Path) -> None:
        self.f: TextIO = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        self._gc_t = 0

    def mark(self, phase: str, edge: str, **extra: Any) -> None:
        t, c = time.time_ns(), time.thread_time_ns()
        rec = {"t": t, "c": c, "q": _runq_ns(), "th": threading.get_native_id(), "p": phase, "e": edge}
        self.f.write(json.dumps({**rec, **extra}) + "\n")

    def wrap(
        self, owner: Any, name: str, phase: str, info: Callable[..., dict[str, Any]] | None = None
    ) -> None:
        """Replace ``owner.name`` by a version that marks its start and end."""
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            extra = info(*args, **kwargs) if info is not None else {}
            self.mark(phase, "b", **extra)
            try:
                out = fn(*args, **kwargs)
            finally:
                self.mark(phase, "e")
            return out

        setattr(owner, name, timed)

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_t = time.time_ns()
        else:
            self.f.write(
                json.dumps({"t": self._gc_t, "p": "gc", "e": "x", "gen": info.get("generation"),
                            "ms": (time.time_ns() - self._gc_t) / 1e6}) + "\n"
            )  # fmt: skip


def install(path: Path) -> PhaseLog:
    """Wrap the urgent path's steps in this process (imports the modules they live in)."""
    import h7.cal.writer as writer
    import h7.pipeline as pipeline
    from h7.sensor.sensor import Sensor
    from h7.sink.client import SinkClient

    log = PhaseLog(path)
    poll = Sensor.poll

    @functools.wraps(poll)
    def timed_poll(self: Sensor, timeout_s: float) -> Any:
        out = poll(self, timeout_s)
        if out:
            log.mark("poll", "x", n=len(out))
        return out

    Sensor.poll = timed_poll  # type: ignore[method-assign]
    log.wrap(pipeline.Monitor, "on_events", "events", lambda _s, evs: {"n": len(evs)})
    log.wrap(pipeline.Monitor, "on_batch", "batch")
    log.wrap(pipeline.AlertPath, "__call__", "alert", lambda _s, a: {"ch": a.channel, "code": a.code})
    log.wrap(writer.CalWriter, "_load_head", "lock")
    log.wrap(writer, "sign_body", "sign")
    log.wrap(writer, "_fill_synced", "fsync", lambda _fd, data: {"bytes": len(data)})
    log.wrap(writer.CalWriter, "_write_cert", "cert", lambda _s, p, _d: {"name": p.name})
    log.wrap(writer, "fsync_dir", "dirsync")
    log.wrap(writer.CalWriter, "sync_head", "head")
    log.wrap(SinkClient, "submit", "spool")
    gc.callbacks.append(log.on_gc)
    return log


def load(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by the sensor's kill
    return out


def _span(marks: list[dict[str, Any]], phase: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """[begin, end] intervals of ``phase`` that overlap (lo, hi)."""
    spans, begin = [], None
    for m in marks:
        if m["p"] != phase:
            continue
        if m["e"] == "b":
            begin = m["t"]
        elif m["e"] == "e" and begin is not None:
            if m["t"] > lo and begin < hi:
                spans.append((begin, m["t"]))
            begin = None
    return spans


def breakdown(
    marks: list[dict[str, Any]], name: str, stamp: int, event_ns: int, seen_ns: int
) -> dict[str, float]:
    """One certificate's timeline, ms per step from the act to the .cal seen (NaN: not in the log)."""
    nan = float("nan")
    idx = next((i for i, m in enumerate(marks) if m["p"] == "cert" and m.get("name") == name), None)
    if idx is None:
        return {}
    cert_b = marks[idx]["t"]
    cert_e = next((m["t"] for m in marks[idx + 1 :] if m["p"] == "cert" and m["e"] == "e"), nan)
    before = marks[:idx]
    alert_b = next((m["t"] for m in reversed(before) if m["p"] == "alert" and m["e"] == "b"), nan)
    lock = next((m["t"] for m in reversed(before) if m["p"] == "lock" and m["e"] == "b"), nan)
    sign = [m["t"] for m in before if m["p"] == "sign" and m["t"] >= lock]
    poll = next((m["t"] for m in reversed(before) if m["p"] == "poll" and m["t"] <= alert_b), nan)
    fs = [m["t"] for m in marks[idx:] if m["p"] == "fsync"][:2]
    batches = _span(marks, "batch", event_ns, int(poll) if poll == poll else event_ns)
    gcs = [
        m for m in marks if m["p"] == "gc" and event_ns <= m["t"] <= (cert_e if cert_e == cert_e else cert_b)
    ]
    ms = 1e6
    # the main thread's own CPU, its run-queue waits and the rest (blocked), from the poll that
    # returned the event to the certificate's end (link and directory fsync included)
    main = marks[idx].get("th")
    p_mark = next((m for m in reversed(before) if m["p"] == "poll" and m["t"] <= alert_b), None)
    e_mark = next((m for m in marks[idx + 1 :] if m["p"] == "cert" and m["e"] == "e"), None)
    prev = next((m for m in reversed(before) if m.get("th") == main and m["t"] < event_ns), None)
    path: dict[str, float] = {}
    if p_mark is not None and e_mark is not None:
        wall, cpu = e_mark["t"] - p_mark["t"], e_mark["c"] - p_mark["c"]
        runq = e_mark["q"] - p_mark["q"] if min(e_mark["q"], p_mark["q"]) >= 0 else nan
        path = {
            "path_cpu_ms": cpu / ms,
            "path_runq_ms": runq / ms,
            "path_blocked_ms": (wall - cpu - runq) / ms,
        }
        if prev is not None and min(prev["q"], p_mark["q"]) >= 0:
            path["wake_runq_ms"] = (p_mark["q"] - prev["q"]) / ms  # waiting for a CPU once woken
    return path | {
        "event_ms": (event_ns - stamp) / ms,
        "to_poll_ms": (poll - event_ns) / ms,  # kernel event -> the poll that returned it
        "to_alert_ms": (alert_b - poll) / ms,  # decode, engine, L5's judgement, the trace
        "to_lock_ms": (lock - alert_b) / ms,  # the alert path up to the chain's lock
        "lock_to_sign_ms": ((sign[0] if sign else nan) - lock) / ms,  # HEAD read, the body
        "sign_ms": ((sign[1] if len(sign) > 1 else nan) - (sign[0] if sign else nan)) / ms,
        "sign_to_write_ms": (cert_b - (sign[1] if len(sign) > 1 else nan)) / ms,
        "fsync_ms": ((fs[1] if len(fs) > 1 else nan) - (fs[0] if fs else nan)) / ms,  # create+write+fsync
        "to_seen_ms": (seen_ns - (fs[1] if len(fs) > 1 else nan)) / ms,  # link, inotify, the watcher
        "dirsync_ms": (cert_e - seen_ns) / ms,  # after the link: temp unlinked, directory fsynced
        "batch_overlap_ms": sum(min(e, poll) - max(b, event_ns) for b, e in batches) / ms if batches else 0.0,
        "gc_ms": sum(float(m["ms"]) for m in gcs),
    }


def report(rows: list[tuple[str, float, dict[str, float]]]) -> str:
    """One line per act: its act -> .cal ms and where it went (bench/latency.py prints it)."""
    cols = ["event_ms", "to_poll_ms", "to_alert_ms", "to_lock_ms", "lock_to_sign_ms", "sign_ms",
            "sign_to_write_ms", "fsync_ms", "to_seen_ms", "batch_overlap_ms", "gc_ms",
            "wake_runq_ms", "path_cpu_ms", "path_runq_ms", "path_blocked_ms"]  # fmt: skip
    head = f"{'act':>4} {'cal_ms':>7} " + " ".join(f"{c[:-3]:>{max(9, len(c) - 3)}}" for c in cols)
    lines = [head]
    for i, (_name, cal_ms, b) in enumerate(rows):
        cells = " ".join(f"{b.get(c, float('nan')):{max(9, len(c) - 3)}.2f}" for c in cols)
        lines.append(f"{i:4d} {cal_ms:7.2f} {cells}")
    return "\n".join(lines)


def main() -> None:
    log_path = Path(sys.argv[1])
    sys.argv = ["h7", *sys.argv[2:]]
    install(log_path)
    from h7.cli import main as h7_main

    h7_main()


if __name__ == "__main__":
    main()
