"""``h7 sinkhole``: receives alerts on a Unix socket and fans them out.

An alert is acknowledged to the sensor only after *every* output took it,
so the sensor's spool is the one durable queue in the system and the
sinkhole holds nothing a crash could lose.  A bounded window of recent ids
remembers which outputs already have which alert: a redelivery (the
sensor's ack got lost, or an output failed half-way) goes only to the
outputs that still need it, and a complete duplicate is acknowledged
without being sent anywhere.  The window is in memory: after a sinkhole
crash an alert may reach an output twice, which is why every record
carries its id.
"""

from __future__ import annotations

import contextlib
import grp
import os
import socket
import stat
import struct
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from h7.config import SinkConfig
from h7.errors import DeliveryError, StorageError, UsageError
from h7.sink.formats import AlertRecord, Formatter
from h7.sink.framing import PROTOCOL_VERSION, FrameReader, ProtocolError, pack
from h7.sink.outputs import Output, PermanentDeliveryError, build_output, dumps

MAX_CONNECTIONS = 32
HANDSHAKE_TIMEOUT_S = 5.0  # a connection that does not say hello by then is dropped
_REFUSAL_LOG_INTERVAL_S = 10.0
# Summary fields that must say what the signed certificate says (summary key -> body key).
_BOUND_FIELDS = {
    "channel": "channel",
    "code": "code",
    "agent_id": "agent_id",
    "ts_ns": "ts_ns",
    "divergence": "divergence",
    "threshold": "threshold",
    "key": "alert_key",
    "suppressed": "suppressed",
    "host": "host",
}


class Refused(Exception):
    """An alert that failed authentication; the reason is one line for the log."""


def load_pubkeys(paths: list[Path]) -> list[Any]:
    """The public keys alerts must be signed with; the sinkhole does not start without one."""
    from h7.cal.keys import load_public_key

    keys = []
    for p in paths:
        try:
            keys.append(load_public_key(p))
        except UsageError as e:
            raise UsageError(
                f"{e}; the sinkhole verifies every alert's certificate against the sensor host's "
                "public key: set [sinkhole] pubkey (default /var/lib/h7/keys/h7.pub)"
            ) from None
    if not keys:
        raise UsageError("[sinkhole] pubkey: no public key configured")
    return keys


def authenticate(aid: str, summary: dict[str, Any], cal: bytes, pubkeys: list[Any]) -> None:
    """Raise Refused unless ``cal`` is an alert certificate signed by one of ``pubkeys`` and
    ``aid`` and ``summary`` say what it says.

    The certificate is the only thing a peer cannot forge; the id and the
    summary outputs render are bound to it, so a peer replaying a genuine
    certificate cannot change what the alert claims.
    """
    import hashlib

    from h7.cal.format import ALERT_EMITTED, verify_bytes
    from h7.errors import VerificationError

    if not cal:
        raise Refused("no certificate")
    if aid != hashlib.sha256(cal).hexdigest():
        raise Refused("id is not the SHA-256 of the certificate")
    cert = None
    reason = ""
    for pub in pubkeys:
        try:
            cert = verify_bytes(cal, pub)
            break
        except VerificationError as e:
            reason = str(e)
    if cert is None:
        raise Refused(f"certificate does not verify with any configured public key ({reason})")
    if cert.action != ALERT_EMITTED:
        raise Refused(f"certificate is a {cert.action} record, not an alert")
    body = cert.body
    for skey, bkey in _BOUND_FIELDS.items():
        if skey in summary and summary[skey] != body[bkey]:
            raise Refused(f"summary field {skey!r} differs from the signed certificate")
    if "cal_sha256" in summary and summary["cal_sha256"] != aid:
        raise Refused("summary cal_sha256 differs from the certificate")


def _log(msg: str) -> None:
    print(f"h7 sinkhole: {msg}", file=sys.stderr, flush=True)


def resolve_group(group: str | int | None) -> int | None:
    if group is None:
        return None
    if isinstance(group, int):
        return group
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        if group.isdigit():
            return int(group)
        raise UsageError(f"group {group!r} does not exist") from None


def _socket_alive(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def prepare_socket_path(path: Path) -> None:
    """Refuse anything but our own stale socket at ``path``.

    Replacing a file someone else owns would let us clobber it (if it is not
    a socket) or hijack another user's sinkhole; replacing a live socket of
    our own would orphan a running sinkhole.
    """
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o755, parents=True)
    pst = parent.stat()
    if pst.st_uid not in (0, os.geteuid()):
        raise UsageError(f"{parent} is owned by uid {pst.st_uid}; refusing to create the socket there")
    if pst.st_mode & 0o002 and not pst.st_mode & stat.S_ISVTX:
        raise UsageError(f"{parent} is world-writable without the sticky bit; refusing")
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if st.st_uid != os.geteuid():
        raise UsageError(f"{path} is owned by uid {st.st_uid}, not by us; refusing to replace it")
    if not stat.S_ISSOCK(st.st_mode):
        raise UsageError(f"{path} exists and is not a socket; refusing to replace it")
    if _socket_alive(path):
        raise UsageError(f"another sinkhole is already listening on {path}")
    path.unlink()


class DedupWindow:
    """Recent alert ids -> the outputs that already have them (LRU-bounded)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[str, set[str]] = OrderedDict()

    def done(self, aid: str) -> set[str]:
        s = self._d.get(aid)
        if s is None:
            return set()
        self._d.move_to_end(aid)
        return s

    def record(self, aid: str, outputs: set[str]) -> None:
        self._d[aid] = outputs
        self._d.move_to_end(aid)
        while len(self._d) > self.size:
            self._d.popitem(last=False)

    def __len__(self) -> int:
        return len(self._d)


class Sinkhole:
    """The server.  ``start()`` runs it on threads; ``serve_forever()`` in the foreground."""

    def __init__(
        self,
        config: SinkConfig,
        socket_path: Path | None = None,
        group: str | int | None = None,
        outputs: list[Output] | None = None,
    ) -> None:
        self.config = config
        self.socket_path = Path(socket_path or config.socket)
        self.gid = resolve_group(group if group is not None else config.group)
        self.formatter = Formatter(
            config.host or socket.gethostname(), config.severity, config.device_type_id
        )
        self._stop = threading.Event()
        self.outputs = (
            outputs
            if outputs is not None
            else [build_output(spec, self.formatter, self._stop) for spec in config.outputs]
        )
        self.dedup = DedupWindow(config.dedup_window)
        self.pubkeys = load_pubkeys(config.pubkeys)
        self.refused = 0
        self.refused_by_uid: dict[int, int] = {}
        self.conns_refused = 0
        self.idle_closed = 0
        self._per_uid: dict[int, int] = {}
        self._last_refusal_log = 0.0
        self._refusals_unlogged = 0
        self._dispatch = threading.Lock()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self.received = 0
        self.delivered = 0
        self.duplicates = 0
        self.nacked = 0
        self.dead_lettered = 0
        self.started_ns = time.time_ns()

    # -- lifecycle --------------------------------------------------------------
    def bind(self) -> None:
        prepare_socket_path(self.socket_path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Bind under a restrictive umask so the socket is never briefly
        # connectable by everyone, then open it up to exactly 0660.
        old = os.umask(0o177)
        try:
            s.bind(str(self.socket_path))
        except OSError as e:
            s.close()
            raise StorageError(f"cannot bind {self.socket_path}: {e.strerror}") from e
        finally:
            os.umask(old)
        if self.gid is not None:
            os.chown(self.socket_path, -1, self.gid)
        os.chmod(self.socket_path, 0o660)
        s.listen(16)
        s.settimeout(0.5)
        self._listener = s

    def start(self) -> None:
        if self._listener is None:
            self.bind()
        t = threading.Thread(target=self._accept_loop, name="h7-sinkhole-accept", daemon=True)
        t.start()
        self._threads.append(t)

    def serve_forever(self) -> None:
        if self._listener is None:
            self.bind()
        self._accept_loop()

    def shutdown(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._conns_lock:
            for c in list(self._conns):
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
        for t in list(self._threads):
            t.join(timeout)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            with contextlib.suppress(OSError):
                # Only our own socket: another sinkhole may have replaced it.
                if stat.S_ISSOCK(self.socket_path.lstat().st_mode):
                    self.socket_path.unlink()
        with self._dispatch:
            for o in self.outputs:
                with contextlib.suppress(Exception):
                    o.close()

    def request_stop(self) -> None:
        self._stop.set()

    # -- connections ------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    break
                raise
            pid, uid = self._peer_cred(conn)
            refused = ""
            with self._conns_lock:
                per_peer = self._per_uid.get(uid, 0)
                if len(self._conns) >= MAX_CONNECTIONS:
                    refused = "all connections in use"
                elif per_peer >= self.config.max_connections_per_peer:
                    refused = f"uid {uid} already has {per_peer} open"
                else:
                    self._conns.add(conn)
                    self._per_uid[uid] = per_peer + 1
                if refused:
                    self.conns_refused += 1
            if refused:
                conn.close()
                self._note_refusal(uid, f"connection from pid {pid} uid {uid} refused: {refused}")
                continue
            t = threading.Thread(
                target=self._serve_conn, args=(conn, pid, uid), name="h7-sinkhole-conn", daemon=True
            )
            t.start()
            self._threads = [x for x in self._threads if x.is_alive()] + [t]

    @staticmethod
    def _peer_cred(conn: socket.socket) -> tuple[int, int]:
        """(pid, uid) of the connecting process, from the kernel (SO_PEERCRED); -1 if unknown."""
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            pid, uid, _ = struct.unpack("3i", creds)
            return pid, uid
        except OSError:
            return -1, -1

    def _note_refusal(self, uid: int, line: str) -> None:
        """Count always; log at most once per interval (a flood must not flood the log)."""
        now = time.monotonic()
        with self._conns_lock:
            self._refusals_unlogged += 1
            if now - self._last_refusal_log < _REFUSAL_LOG_INTERVAL_S:
                return
            n, self._refusals_unlogged = self._refusals_unlogged, 0
            self._last_refusal_log = now
        more = f" ({n - 1} more refusals since the last line)" if n > 1 else ""
        _log(f"REFUSED: {line}{more}")

    def _serve_conn(self, conn: socket.socket, pid: int = -1, uid: int = -1) -> None:
        peer = f"pid {pid} uid {uid}"
        conn.settimeout(0.5)
        reader = FrameReader(conn)
        greeted = False
        try:
            while not self._stop.is_set():
                # Until hello, a short deadline; after it, the idle timeout: a peer
                # that holds a connection without using it gives its slot back.
                wait = self.config.idle_timeout if greeted else HANDSHAKE_TIMEOUT_S
                try:
                    msg = reader.read(time.monotonic() + wait, self._stop.is_set)
                except TimeoutError:
                    if not self._stop.is_set():
                        self.idle_closed += 1
                    break
                if msg is None:
                    break
                if msg.get("t") == "alert" and not greeted:
                    raise ProtocolError("alert before hello")
                greeted = greeted or msg.get("t") == "hello"
                reply = self._handle(msg, peer, uid)
                conn.sendall(pack(reply))
                if reply.get("t") == "error":
                    break
        except ProtocolError as e:
            _log(f"dropping connection from {peer}: {e}")
            with contextlib.suppress(OSError):
                conn.sendall(pack({"t": "error", "error": str(e)}))
        except OSError:
            pass
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
                left = self._per_uid.get(uid, 1) - 1
                if left > 0:
                    self._per_uid[uid] = left
                else:
                    self._per_uid.pop(uid, None)
            conn.close()

    def _handle(self, msg: dict[str, Any], peer: str, uid: int = -1) -> dict[str, Any]:
        t = msg.get("t")
        if t == "hello":
            if msg.get("v") != PROTOCOL_VERSION:
                return {"t": "error", "error": f"unsupported protocol version {msg.get('v')!r}"}
            return {"t": "hello", "v": PROTOCOL_VERSION, "pid": os.getpid()}
        if t == "ping":
            return {"t": "pong", "pid": os.getpid(), "outputs": [o.describe() for o in self.outputs],
                    "stats": self.stats()}  # fmt: skip
        if t == "alert":
            return self._handle_alert(msg, peer, uid)
        return {"t": "error", "error": f"unknown message type {t!r}"}

    # -- delivery ---------------------------------------------------------------
    def _handle_alert(self, msg: dict[str, Any], peer: str, uid: int = -1) -> dict[str, Any]:
        aid, summary, cal = msg.get("id"), msg.get("summary"), msg.get("cal", b"")
        if not isinstance(aid, str) or not isinstance(summary, dict) or not isinstance(cal, bytes):
            raise ProtocolError(f"malformed alert frame from {peer}")
        try:
            authenticate(aid, summary, cal, self.pubkeys)
        except Refused as e:
            with self._conns_lock:
                self.refused += 1
                self.refused_by_uid[uid] = self.refused_by_uid.get(uid, 0) + 1
            self._note_refusal(uid, f"alert {aid[:16]} from {peer}: {e}")
            # An error reply closes the connection; a genuine sensor keeps the
            # alert spooled and retries, so a misconfigured key loses nothing.
            return {"t": "error", "error": f"alert refused: {e}"}
        spooled = msg.get("spooled_ns")
        rec = AlertRecord(
            id=aid,
            summary=summary,
            cal_path=str(msg.get("cal_path", "")),
            cal=cal,
            spooled_ns=spooled if type(spooled) is int else 0,
            peer_uid=uid,
        )
        # One alert at a time across all connections: outputs see alerts in
        # the order they were acknowledged, and outputs need no locking.
        with self._dispatch:
            self.received += 1
            done = set(self.dedup.done(aid))
            todo = [o for o in self.outputs if o.name not in done]
            if not todo and done:
                self.duplicates += 1
                return {"t": "ack", "id": aid, "dup": True}
            errors: list[str] = []
            for o in todo:
                if self._stop.is_set():
                    errors.append("sinkhole shutting down")
                    break
                try:
                    o.send(rec)
                    o.sent += 1
                    done.add(o.name)
                except PermanentDeliveryError as e:
                    o.errors += 1
                    if self._dead_letter(rec, o, str(e)):
                        done.add(o.name)
                    else:
                        errors.append(f"{o.name}: {e}")
                except DeliveryError as e:
                    o.errors += 1
                    errors.append(f"{o.name}: {e}")
                except Exception as e:  # a bug in one output must not kill the connection
                    o.errors += 1
                    errors.append(f"{o.name}: internal error {type(e).__name__}: {e}")
            self.dedup.record(aid, done)
            if errors:
                self.nacked += 1
                err = "; ".join(errors)
                _log(f"alert {aid[:16]} not fully delivered, sensor will retry: {err}")
                return {"t": "nack", "id": aid, "error": err, "retry_after": 1.0}
            self.delivered += 1
            return {"t": "ack", "id": aid, "dup": bool(done - {o.name for o in todo})}

    def _dead_letter(self, rec: AlertRecord, out: Output, error: str) -> bool:
        path = self.config.dead_letter
        if path is None:
            return False
        line = dumps(
            {
                "output": out.name,
                "error": error,
                "failed_at_ns": time.time_ns(),
                "alert": self.formatter.native(rec, True),
            }
        )
        try:
            path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            _log(f"ALARM: cannot write dead-letter file {path}: {e.strerror}")
            return False
        self.dead_lettered += 1
        _log(
            f"ALARM: output {out.name} permanently rejected alert {rec.id[:16]} ({error}); written to {path}"
        )
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "nacked": self.nacked,
            "dead_lettered": self.dead_lettered,
            "dedup_window": len(self.dedup),
            "refused": self.refused,
            "refused_by_uid": {str(k): v for k, v in self.refused_by_uid.items()},
            "connections_refused": self.conns_refused,
            "idle_closed": self.idle_closed,
            "outputs": {o.name: {"sent": o.sent, "errors": o.errors} for o in self.outputs},
            "started_ns": self.started_ns,
        }
