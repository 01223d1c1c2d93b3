"""The sensor's side of alert delivery: spool first, deliver in the background.

``submit`` only touches the local disk, so a slow, dead or restarting
sinkhole can never stall detection.  One background thread owns the socket
and sends the oldest spooled alert, waits for its ack and only then deletes
it: stop-and-wait is what makes redelivery after any failure both complete
and in order, and alerts are rare enough that its latency cost is irrelevant.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from h7.errors import DeliveryError, StorageError
from h7.paths import DEFAULT_MAX_SPOOL_BYTES
from h7.sink.framing import PROTOCOL_VERSION, FrameReader, ProtocolError, alert_id, pack
from h7.sink.spool import Spool, SpoolFull

_ALARM_INTERVAL_S = 10.0


def _jsonable(o: object) -> object:
    # numpy scalars and arrays expose item()/tolist(); everything else becomes text
    # rather than making submit() raise inside the detection path.
    for attr in ("item", "tolist"):
        f = getattr(o, attr, None)
        if callable(f):
            try:
                return f()
            except (TypeError, ValueError):
                pass
    if isinstance(o, bytes | bytearray):
        return o.hex()
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    return str(o)


def normalise_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """A plain-JSON copy: what goes on the wire must render identically in every output."""
    out = json.loads(json.dumps(summary, default=_jsonable, allow_nan=False))
    if not isinstance(out, dict):
        raise TypeError("summary must be a JSON object")
    return out


class SinkClient:
    """Hands alerts to the local sinkhole with at-least-once, in-order delivery.

    Guarantees: an alert ``submit`` returned for is on disk (fsynced) and
    stays there until the sinkhole acknowledged it, across sinkhole restarts
    and our own crashes (a new client on the same ``spool_dir`` picks it up).
    ``submit`` raises ``SpoolFull`` (a ``DeliveryError``) when the spool is
    at ``max_spool_bytes`` — the alert is then *not* queued and the caller
    must record that; it never disappears silently.
    """

    def __init__(
        self,
        socket_path: Path,
        spool_dir: Path,
        max_spool_bytes: int = DEFAULT_MAX_SPOOL_BYTES,
        *,
        connect_timeout: float = 2.0,
        ack_timeout: float = 300.0,
        retry_initial: float = 0.05,
        retry_max: float = 5.0,
        start: bool = True,
        sinkhole_uid: int | None = None,
    ) -> None:
        """``sinkhole_uid``: a non-root uid the sinkhole may run as; root and our own uid always may."""
        self.socket_path = Path(socket_path)
        self.trusted_uids = {0, os.geteuid()} | ({sinkhole_uid} if sinkhole_uid is not None else set())
        self.spool = Spool(Path(spool_dir), max_spool_bytes)
        self.connect_timeout = connect_timeout
        # Generous: the sinkhole acks only once every output took the alert,
        # which includes a webhook's own retries.
        self.ack_timeout = ack_timeout
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._reader: FrameReader | None = None
        self._delivered = 0
        self._failed = 0
        self._refused = 0
        self._foreign = 0
        self._spool_full = False
        self._connected = False
        self._last_error: str | None = None
        self._last_alarm = 0.0
        self._last_note = 0.0
        self._alarms_pending = 0
        self._closed = False
        self._early: deque[tuple[int, dict[str, Any]]] = deque()
        self._thread = threading.Thread(target=self._run, name="h7-sink-client", daemon=True)
        if start:
            self._thread.start()

    # -- caller side --------------------------------------------------------
    def submit(self, summary: dict[str, Any], cal_path: str, cal_bytes: bytes) -> str:
        """Spool one alert durably and return its stable id; never waits for the sinkhole."""
        if self._closed:
            raise DeliveryError("SinkClient is closed")
        clean = normalise_summary(summary)
        aid = alert_id(clean, bytes(cal_bytes))
        record = {
            "id": aid,
            "summary": clean,
            "cal_path": str(cal_path),
            "cal": bytes(cal_bytes),
            "spooled_ns": time.time_ns(),
        }
        blob = self.spool.encode(record)
        try:
            seq = self.spool.reserve(len(blob))
        except SpoolFull as e:
            with self._cv:
                self._refused += 1
                self._spool_full = True
            self._alarm(f"{e}; alert {aid[:16]} for {cal_path} NOT queued (the .cal stays on disk)")
            raise
        with self._cv:
            self._spool_full = False
            # Fast path: with nothing older pending and the sinkhole connected, the
            # sender may deliver this alert while the spool entry is being made
            # durable (the .cal already is).  submit still returns only once the
            # entry is on disk -- or acknowledged, when the sinkhole was quicker.
            if self._connected and not self._early and self.spool.depth == 0:
                self._early.append((seq, record))
            self._cv.notify_all()
        self.spool.write(seq, blob)
        with self._cv:
            self._cv.notify_all()
        return aid

    def stats(self) -> dict[str, Any]:
        with self._cv:
            return {
                "spool_depth": self.spool.depth,
                "spool_bytes": self.spool.bytes,
                "spool_max_bytes": self.spool.max_bytes,
                "delivered": self._delivered,
                "failed": self._failed,
                "refused": self._refused,
                "spool_full": self._spool_full,
                "quarantined": self.spool.quarantined,
                "foreign_sinkhole": self._foreign,
                "connected": self._connected,
                "last_error": self._last_error,
            }

    def flush(self, timeout: float) -> bool:
        """Wait until everything spooled so far is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self.spool.depth:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cv.wait(min(left, 0.1))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Give delivery up to ``timeout`` s to drain, then stop; the rest stays spooled."""
        if self._closed:
            return
        if self._thread.is_alive():
            self.flush(timeout)
        self._closed = True
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(max(1.0, timeout))
        self._disconnect()
        self.spool.close()

    def __enter__(self) -> SinkClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _alarm(self, msg: str) -> None:
        # Loud but rate-limited: a full spool under an alert storm must not
        # turn stderr itself into the bottleneck.
        now = time.monotonic()
        with self._cv:
            self._alarms_pending += 1
            if now - self._last_alarm < _ALARM_INTERVAL_S and self._last_alarm:
                return
            n, self._alarms_pending = self._alarms_pending, 0
            self._last_alarm = now
        more = f" ({n - 1} more refused since the last alarm)" if n > 1 else ""
        print(f"h7: ALARM: {msg}{more}", file=sys.stderr, flush=True)

    # -- delivery thread ----------------------------------------------------
    def _connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.connect_timeout)
            s.connect(str(self.socket_path))
            self._check_peer(s)
            s.settimeout(0.2)  # poll interval, so close() is never stuck behind a recv
            s.sendall(pack({"t": "hello", "v": PROTOCOL_VERSION, "pid": os.getpid()}))
            reader = FrameReader(s)
            reply = reader.read(time.monotonic() + self.connect_timeout, self._stop.is_set)
        except BaseException:
            s.close()
            raise
        if reply is None or reply.get("t") != "hello":
            s.close()
            err = reply.get("error") if reply else "closed"
            raise ProtocolError(f"sinkhole refused the handshake: {err}")
        self._sock, self._reader = s, reader
        with self._cv:
            if not self._connected and self._last_error:
                print(f"h7: sink: reconnected to {self.socket_path}", file=sys.stderr, flush=True)
            self._connected = True

    def _check_peer(self, s: socket.socket) -> None:
        """Hand alerts only to a sinkhole run by root, by us, or by the configured uid.

        The kernel's SO_PEERCRED names the process that *listens*, not the
        owner of the socket file, so neither a replaced socket nor a
        permissive directory lets another user collect (and so make us
        delete) the spooled alerts.
        """
        creds = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _ = struct.unpack("3i", creds)
        if uid not in self.trusted_uids:
            with self._cv:
                self._foreign += 1
            raise DeliveryError(
                f"{self.socket_path} is served by pid {pid} uid {uid}, not by root or the configured "
                "sinkhole uid; refusing to hand alerts to it (they stay spooled)"
            )

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._reader = None, None
        with self._cv:
            self._connected = False

    def _note_failure(self, err: str) -> None:
        now = time.monotonic()
        with self._cv:
            # Say it when the failure changes, then at most once a minute.
            loud = err != self._last_error or now - self._last_note >= 60.0
            self._failed += 1
            self._last_error = err
            if loud:
                self._last_note = now
        if loud:
            print(
                f"h7: sink: delivery to {self.socket_path} failed ({err}); alerts stay spooled "
                f"in {self.spool.dir} ({self.spool.depth} pending) and will be redelivered",
                file=sys.stderr,
                flush=True,
            )

    def _next(self) -> tuple[int, dict[str, Any]] | None:
        """The next alert to deliver: a fast-path one first, else the oldest spooled one.

        A fast-path alert is always the oldest (it is queued only when nothing
        is spooled), and if delivering it fails its spool entry is delivered
        later like any other (the sinkhole ignores a duplicate id).
        """
        with self._cv:
            if self._early:
                return self._early.popleft()
        entry = self.spool.peek()
        return None if entry is None else (entry.seq, entry.record)

    def _run(self) -> None:
        backoff = self.retry_initial
        while not self._stop.is_set():
            try:
                item = self._next()
            except StorageError as e:
                self._note_failure(str(e))
                self._stop.wait(self.retry_max)
                continue
            if item is None:
                with self._cv:
                    if self.spool.depth == 0 and not self._early and not self._stop.is_set():
                        self._cv.wait(1.0)
                continue
            seq, record = item
            try:
                if self._sock is None:
                    self._connect()
                assert self._sock is not None and self._reader is not None
                self._sock.sendall(pack({"t": "alert", **record}))
                reply = self._reader.read(time.monotonic() + self.ack_timeout, self._stop.is_set)
            except (OSError, DeliveryError) as e:
                if self._stop.is_set():
                    break
                self._disconnect()
                self._note_failure(str(e) or type(e).__name__)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.retry_max)
                continue
            if reply is None:
                self._disconnect()
                self._note_failure("sinkhole closed the connection")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.retry_max)
                continue
            if reply.get("t") == "ack" and reply.get("id") == record["id"]:
                try:
                    self.spool.remove(seq)
                except StorageError as e:
                    self._note_failure(str(e))
                    self._stop.wait(self.retry_max)
                    continue
                backoff = self.retry_initial
                with self._cv:
                    self._delivered += 1
                    self._last_error = None
                    self._cv.notify_all()
                continue
            # A nack (an output failed) or a confused peer: keep the entry, retry later.
            err = str(reply.get("error") or f"unexpected reply {reply.get('t')!r}")
            if reply.get("t") != "nack":
                self._disconnect()
            self._note_failure(err)
            wait = float(reply.get("retry_after") or 0) or backoff
            self._stop.wait(min(max(wait, backoff), self.retry_max))
            backoff = min(backoff * 2, self.retry_max)


def ping_sinkhole(socket_path: Path, timeout: float = 2.0) -> dict[str, Any]:
    """Ask the sinkhole at ``socket_path`` who it is; ``{"reachable": False, ...}`` if nobody answers."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(socket_path))
        s.sendall(pack({"t": "ping"}))
        reply = FrameReader(s).read(time.monotonic() + timeout)
    except (OSError, TimeoutError) as e:
        return {"reachable": False, "socket": str(socket_path), "error": e.strerror or str(e)}
    except Exception as e:
        return {"reachable": False, "socket": str(socket_path), "error": str(e)}
    finally:
        s.close()
    if not reply or reply.get("t") != "pong":
        return {"reachable": False, "socket": str(socket_path), "error": "unexpected reply"}
    return {"reachable": True, "socket": str(socket_path), **{k: v for k, v in reply.items() if k != "t"}}
