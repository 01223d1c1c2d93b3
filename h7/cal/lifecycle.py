"""The sensor's own life in the chain: start, stop, recovery after a crash, gaps.

A chain of alerts alone cannot tell "nothing happened" from "nothing was
watching".  So a sensor run signs ``SENSOR_STARTED`` when it begins and
``SENSOR_STOPPED`` when it ends cleanly.  A run that ends any other way
(kill -9, OOM, power loss) leaves its *run file* ``.run.<pid>`` behind in the
cal directory; the next sensor to start on that directory finds it, sees that
its process is gone, and signs ``SENSOR_RECOVERED`` naming the dead run and
the last time it was known alive (the run file's mtime, touched every
:data:`HEARTBEAT_S` seconds).  Detections that could not be certified (full
or failing disk for longer than the bounded memory could hold them) are
counted and signed as one ``DETECTIONS_UNCERTIFIED`` record once the disk
accepts writes again.

The run file is a hint next to the chain, not evidence: whoever can delete
certificates can delete it too.  What it adds is that an *unattended* crash
becomes a signed record instead of silence.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from h7 import __version__
from h7.cal.format import (
    DETECTIONS_UNCERTIFIED,
    SENSOR_RECOVERED,
    SENSOR_STARTED,
    SENSOR_STOPPED,
)
from h7.cal.writer import CalWriter
from h7.errors import StorageError

log = logging.getLogger("h7.cal")

RUN_PREFIX = ".run."
RUN_LOCK = ".run.lock"
HEARTBEAT_S = 1.0
MAX_RUN_FILE = 4096
MAX_STALE_RUNS = 1024  # bounds the start-up scan
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _boot_id() -> str:
    try:
        return BOOT_ID.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat: with the pid it names one process lifetime."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read(4096)
    except OSError:
        return None
    try:
        rest = raw[raw.rindex(b")") + 2 :].split()
        if rest[0] in (b"Z", b"X"):
            return None
        return int(rest[19])
    except (ValueError, IndexError):
        return None


def sensor_identity(pid: int | None = None) -> dict[str, Any]:
    """What names this sensor run in its records: pid + start time + boot, and the H7 version."""
    pid = os.getpid() if pid is None else pid
    return {
        "pid": pid,
        "start_ticks": _start_ticks(pid) or 0,
        "boot_id": _boot_id(),
        "version": __version__,
    }


def _read_run_file(path: Path) -> tuple[dict[str, Any], int] | None:
    """(contents, mtime_ns) of a run file; None for anything that is not a small regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_mode & 0o170000 != 0o100000 or st.st_size > MAX_RUN_FILE:
            return None
        raw = os.read(fd, MAX_RUN_FILE)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        doc = {}
    return (doc if isinstance(doc, dict) else {}), st.st_mtime_ns


def _int(v: Any) -> int:
    return v if type(v) is int and 0 <= v < 2**63 else 0


class SensorRun:
    """Signs one sensor run's start and stop, and recovers runs that died before us."""

    def __init__(self, writer: CalWriter) -> None:
        self.writer = writer
        self.identity = sensor_identity()
        self.run_path = writer.cal_dir / f"{RUN_PREFIX}{self.identity['pid']}"
        self._last_beat = 0.0
        self.started = False
        self.recovered: list[dict[str, Any]] = []

    def _alive(self, doc: dict[str, Any]) -> bool:
        if doc.get("boot_id") != self.identity["boot_id"]:
            return False
        pid = _int(doc.get("pid"))
        return pid > 0 and _start_ticks(pid) == _int(doc.get("start_ticks"))

    def start(self, details: dict[str, Any] | None = None) -> None:
        """Recover dead runs, then sign SENSOR_STARTED; raises StorageError if the disk refuses.

        ``.run.lock`` (not the writer's ``.lock``: the writer takes that one
        per append) keeps two sensors starting together from both recovering
        the same dead run.
        """
        lock_path = self.writer.cal_dir / RUN_LOCK
        try:
            lfd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise StorageError(f"cannot open {lock_path}: {e.strerror}") from None
        try:
            fcntl.flock(lfd, fcntl.LOCK_EX)
            self._recover_dead_runs()
            self._write_run_file()
            now = time.time_ns()
            self.writer.record_lifecycle(
                SENSOR_STARTED, self.identity, "sensor started", details or {}, ts_ns=now
            )
            self.writer.sync_head()
            self.started = True
        finally:
            os.close(lfd)

    def _recover_dead_runs(self) -> None:
        try:
            with os.scandir(self.writer.cal_dir) as it:
                names = [
                    e.name
                    for e in it
                    if e.name.startswith(RUN_PREFIX) and e.name[len(RUN_PREFIX) :].isdigit()
                ]
        except OSError as e:
            raise StorageError(f"cannot list {self.writer.cal_dir}: {e.strerror}") from None
        for name in sorted(names)[:MAX_STALE_RUNS]:
            path = self.writer.cal_dir / name
            got = _read_run_file(path)
            if got is None:
                log.warning("ignoring %s: not a small regular file", path)
                continue
            doc, mtime_ns = got
            if self._alive(doc):
                continue  # another sensor on this directory, still running
            now = time.time_ns()
            prev = {
                "pid": _int(doc.get("pid")) or int(name[len(RUN_PREFIX) :]),
                "start_ticks": _int(doc.get("start_ticks")),
                "boot_id": str(doc.get("boot_id", "")),
                "version": str(doc.get("version", "")),
            }
            details = {
                "previous_sensor": prev,
                "previous_started_ns": _int(doc.get("started_ns")),
                "last_alive_ns": mtime_ns,
                "down_ns_at_most": max(0, now - mtime_ns),
                "same_boot": prev["boot_id"] == self.identity["boot_id"],
                "uncertified_at_exit": _int(doc.get("uncertified")),
            }
            why = (
                "previous sensor run ended without a stop record (crash, kill -9 or power loss); "
                "nothing was monitored from last_alive_ns until this record"
            )
            self.writer.record_lifecycle(SENSOR_RECOVERED, self.identity, why, details, ts_ns=now)
            self.recovered.append(details)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _write_run_file(self, extra: dict[str, Any] | None = None) -> None:
        doc = {**self.identity, "started_ns": time.time_ns(), **(extra or {})}
        data = (json.dumps(doc, sort_keys=True) + "\n").encode()
        tmp = self.run_path.with_name(f".{self.run_path.name}.tmp")
        fd = -1
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o640)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.rename(tmp, self.run_path)
        except OSError as e:
            with contextlib.suppress(OSError):
                if fd >= 0:
                    os.close(fd)
                tmp.unlink(missing_ok=True)
            raise StorageError.from_os("cannot write run file", self.run_path, e) from None

    def heartbeat(self) -> None:
        """Touch the run file (at most every HEARTBEAT_S): its mtime bounds a crash's downtime."""
        now = time.monotonic()
        if not self.started or now - self._last_beat < HEARTBEAT_S:
            return
        self._last_beat = now
        try:
            os.utime(self.run_path)
        except FileNotFoundError:
            with contextlib.suppress(StorageError):
                self._write_run_file()
        except OSError as e:
            log.warning("cannot touch %s: %s", self.run_path, e.strerror)

    def stop(self, reason: str, details: dict[str, Any] | None = None) -> None:
        """Sign SENSOR_STOPPED and remove the run file; on failure the next start recovers us."""
        if not self.started:
            return
        self.writer.record_lifecycle(SENSOR_STOPPED, self.identity, reason, details or {})
        self.writer.sync_head()
        self.started = False
        with contextlib.suppress(OSError):
            self.run_path.unlink()


@dataclass
class _Held:
    """An alert (or any record) waiting for the disk: how to write it, then what to do with it."""

    write: Callable[[], tuple[Path, bytes]]
    then: Callable[[Path, bytes], None]
    summary: dict[str, Any]


@dataclass
class Certifier:
    """Certificates in order, surviving a full or failing cal disk without ending monitoring.

    Every record goes through :meth:`submit`.  While the disk refuses writes,
    records wait in memory (at most ``max_held``, oldest kept: the start of an
    incident is what an investigation needs); what does not fit is counted.
    :meth:`retry` (called every batch) writes the held records in order once
    the disk accepts them again, then one signed ``DETECTIONS_UNCERTIFIED``
    record for the ones that did not fit, so every detection is either
    certified or counted in the chain.
    """

    writer: CalWriter
    run: SensorRun
    alarm: Callable[[str], None]
    max_held: int = 1024
    held: deque[_Held] = field(default_factory=deque)
    lost: int = 0
    lost_first_ns: int = 0
    lost_last_ns: int = 0
    lost_by_channel: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    last_error: str = ""
    _last_alarm: float = 0.0

    def submit(
        self,
        write: Callable[[], tuple[Path, bytes]],
        then: Callable[[Path, bytes], None],
        summary: dict[str, Any],
    ) -> bool:
        """Write now if nothing is waiting; else hold (or count) it. True if it was written now."""
        if not self.held and not self.lost:
            try:
                path, data = write()
            except StorageError as e:
                self._failed(e)
            else:
                then(path, data)
                return True
        if len(self.held) < self.max_held:
            self.held.append(_Held(write, then, summary))
        else:
            self._count_lost(summary)
        return False

    def _count_lost(self, summary: dict[str, Any]) -> None:
        ts = _int(summary.get("ts_ns"))
        self.lost += 1
        self.lost_first_ns = ts if self.lost == 1 else min(self.lost_first_ns, ts)
        self.lost_last_ns = max(self.lost_last_ns, ts)
        ch = str(summary.get("channel", "?"))
        self.lost_by_channel[ch] = self.lost_by_channel.get(ch, 0) + 1

    def _failed(self, e: StorageError) -> None:
        self.failures += 1
        self.last_error = str(e)
        now = time.monotonic()
        if now - self._last_alarm >= 10.0 or self.failures == 1:
            self._last_alarm = now
            self.alarm(
                f"cannot write certificates ({e}); holding {len(self.held)} in memory"
                f" (max {self.max_held}), {self.lost} beyond that counted; still detecting, retrying"
            )

    def retry(self) -> int:
        """Write what is waiting, in order; returns how many records were written."""
        done = 0
        for _ in range(len(self.held)):
            h = self.held[0]
            try:
                path, data = h.write()
            except StorageError as e:
                self._failed(e)
                return done
            self.held.popleft()
            done += 1
            h.then(path, data)
        if self.lost:
            details = {
                "first_ts_ns": self.lost_first_ns,
                "last_ts_ns": self.lost_last_ns,
                "by_channel": dict(self.lost_by_channel),
                "last_error": self.last_error,
            }
            try:
                self.writer.record_lifecycle(
                    DETECTIONS_UNCERTIFIED,
                    self.run.identity,
                    "the cal directory refused writes for longer than the held alerts could wait in memory",
                    details,
                    count=self.lost,
                )
            except StorageError as e:
                self._failed(e)
                return done
            self.alarm(f"{self.lost} detection(s) could not be certified; signed a gap record saying so")
            done += 1
            self.lost = 0
            self.lost_by_channel = {}
        if done and self.failures:
            self.alarm(f"certificates are being written again ({done} written from memory)")
            self.failures = 0
        return done

    @property
    def pending(self) -> int:
        return len(self.held) + self.lost
