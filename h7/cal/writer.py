"""Appending certificates to the per-host chain, durably and crash-consistently.

Invariant: the newest certificate file in the directory is always the chain
head.  The ``HEAD`` file is a persisted copy of (seq, hash) that lets a
restart continue the chain even if the newest certificates were deleted
meanwhile (the next certificate then proves the gap), and that makes finding
the head O(1).  A crash can leave ``HEAD`` one or more steps behind the
directory, never ahead, and every append first rolls ``HEAD`` forward over
verified successors, so a ``kill -9`` at any point leaves a consistent chain.

Several processes may append to one directory (the sensor emitting alerts,
``h7 contain`` run by an operator): an ``flock`` on ``.lock`` serialises
them, and the head is re-read under the lock on every append.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from h7.alert import Alert
from h7.batch import AgentInfo
from h7.cal import canonical
from h7.cal.format import (
    ACCEPTED_BY_OPERATOR,
    ALERT_EMITTED,
    DETECTIONS_UNCERTIFIED,
    FORMAT_VERSION,
    LIFECYCLE_ACTIONS,
    MAX_FILE,
    OPERATOR_ACTIONS,
    ZERO_HASH,
    Certificate,
    cert_hash,
    file_name,
    seq_from_name,
    sign_body,
    verify_bytes,
)
from h7.cal.keys import check_private_dir, ensure_dir, key_id, load_private_key
from h7.errors import StorageError, VerificationError
from h7.paths import DEFAULT_CAL_DIR, DEFAULT_KEY_PATH
from h7.safeio import fsync_dir, read_regular

log = logging.getLogger("h7.cal")

HEAD_NAME = "HEAD"
LOCK_NAME = ".lock"
HEAD_MAGIC = "h7-cal-head"
MAX_ROLL_FORWARD = 1_000_000  # successors a stale HEAD may lag; bounds the loop
CERT_MODE = 0o640  # evidence can hold command lines with secrets: not world-readable
CAL_DIR_MODE = 0o750


@dataclass(frozen=True)
class ChainPosition:
    """Where a record goes in the chain and who signs it when: what only the writer knows.

    One value instead of five keyword arguments on every ``build_*_body``:
    the writer fills it in under its lock (seq and prev_hash are only known
    there), tests and the known-answer vectors pass a fixed one.
    """

    host: str
    seq: int
    prev_hash: bytes
    key_id: str
    sign_time_ns: int


def _chain_fields(action: str, at: ChainPosition, agent_id: str, ts_ns: int) -> dict[str, Any]:
    """The fields every record kind opens with: what links it into the chain and says who signed when.

    Written once so that a new record kind cannot drift from the others in
    how it normalises the host or the agent (the verifier checks them all
    with one schema).
    """
    return {
        "version": FORMAT_VERSION,
        "action": action,
        "seq": at.seq,
        "prev_hash": at.prev_hash,
        "key_id": at.key_id,
        "host": canonical.normalize(at.host),
        "agent_id": canonical.normalize(agent_id),
        "ts_ns": int(ts_ns),
        "sign_time_ns": at.sign_time_ns,
    }


def _operator_fields(reason: str, uid: int, login: str) -> dict[str, Any]:
    """Who decided and why: an operator's record must give a reason (the chain is the audit trail)."""
    if not reason or not reason.strip():
        raise ValueError("an operator action needs a reason")
    return {"operator": {"uid": int(uid), "login": canonical.normalize(login)}, "reason": _reason(reason)}


def _reason(reason: str) -> str:
    return canonical.normalize(reason)[:4096]


def build_alert_body(
    alert: Alert,
    agent: AgentInfo,
    drops: dict[str, int],
    *,
    at: ChainPosition,
) -> dict[str, Any]:
    """The signed body of an ALERT_EMITTED certificate (pure: same inputs, same bytes)."""
    if agent.agent_id != alert.agent_id:
        raise ValueError(f"alert is for {alert.agent_id!r} but agent info is for {agent.agent_id!r}")
    if type(alert.ts_ns) is not int:
        raise TypeError("ts_ns must be an exact int")
    return {
        **_chain_fields(ALERT_EMITTED, at, alert.agent_id, alert.ts_ns),
        "channel": alert.channel,
        "code": alert.code,
        "divergence": float(alert.divergence),
        "threshold": float(alert.threshold),
        "alert_key": canonical.normalize(str(alert.key)),
        "suppressed": max(0, int(alert.suppressed)),
        "evidence": canonical.normalize(dict(alert.evidence), 1),
        "syscall_trace": canonical.normalize(list(alert.syscall_trace), 1),
        "agent": {
            "exe": canonical.normalize(agent.exe),
            "cmdline": [canonical.normalize(str(a)) for a in agent.cmdline],
            "root_pid": int(agent.root_pid),
            "start_time_ns": int(agent.start_time_ns),
        },
        "drops": {canonical.normalize(str(k)): max(0, int(v)) for k, v in drops.items()},
    }


def build_operator_body(
    action: str,
    agent_id: str,
    reason: str,
    uid: int,
    login: str,
    *,
    at: ChainPosition,
    ts_ns: int,
    containment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The signed body of a CONTAINED_BY_OPERATOR / RELEASED_BY_OPERATOR record."""
    if action not in OPERATOR_ACTIONS:
        raise ValueError(f"not an operator action: {action!r}")
    return {
        **_chain_fields(action, at, agent_id, ts_ns),
        **_operator_fields(reason, uid, login),
        "containment": canonical.normalize(dict(containment or {}), 1),
    }


def build_accept_body(
    agent_id: str,
    channel: str,
    key: str,
    reason: str,
    uid: int,
    login: str,
    *,
    at: ChainPosition,
    ts_ns: int,
    protocol: str | None = None,
) -> dict[str, Any]:
    """The signed body of an ACCEPTED_BY_OPERATOR record (``h7 accept``).

    ``protocol``: the transport the accept allows (an L4 destination is per protocol since
    session 13); None writes the older two-field form.
    """
    operator = _operator_fields(reason, uid, login)
    if not key or not key.strip():
        raise ValueError("an accept needs what is accepted")
    accept = {"channel": str(channel), "key": canonical.normalize(key)}
    if protocol is not None:
        accept["protocol"] = str(protocol)
    return {
        **_chain_fields(ACCEPTED_BY_OPERATOR, at, agent_id, ts_ns),
        **operator,
        "accept": accept,
    }


def build_lifecycle_body(
    action: str,
    sensor: dict[str, Any],
    reason: str,
    details: dict[str, Any] | None = None,
    *,
    at: ChainPosition,
    ts_ns: int,
    count: int | None = None,
) -> dict[str, Any]:
    """The signed body of a sensor lifecycle record (start, stop, recovery, gap).

    ``agent_id`` is empty: the record is about the sensor run named in
    ``sensor``, not about one agent.  ``count`` (detections without a
    certificate) belongs to DETECTIONS_UNCERTIFIED only.
    """
    if action not in LIFECYCLE_ACTIONS:
        raise ValueError(f"not a lifecycle action: {action!r}")
    if (count is not None) != (action == DETECTIONS_UNCERTIFIED):
        raise ValueError("count is required for, and only for, DETECTIONS_UNCERTIFIED")
    body: dict[str, Any] = {
        **_chain_fields(action, at, "", ts_ns),
        "sensor": {
            "pid": int(sensor["pid"]),
            "start_ticks": int(sensor["start_ticks"]),
            "boot_id": canonical.normalize(str(sensor["boot_id"])),
            "version": canonical.normalize(str(sensor["version"])),
        },
        "reason": _reason(reason) or "unspecified",
        "details": canonical.normalize(dict(details or {}), 1),
    }
    if count is not None:
        body["count"] = int(count)
    return body


def _now_unless(ts_ns: int | None) -> int:
    """A record's own time: the caller's when it has one (a replayed or backdated event), else now."""
    return time.time_ns() if ts_ns is None else ts_ns


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    for _ in range(len(data) + 1):  # each write makes progress or raises
        if not view:
            return
        n = os.write(fd, view)
        view = view[n:]


def _fill_synced(fd: int, data: bytes) -> None:
    """``data`` into a just-created file, mode CERT_MODE whatever the umask, on disk; closes ``fd``."""
    try:
        os.fchmod(fd, CERT_MODE)
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


class CalWriter:
    """Signs detections and operator actions into one chain of .cal files.

    Thread-safe (a lock) and multi-process-safe (an flock).  Either a
    certificate is durable and becomes the head, or the chain is untouched
    and StorageError is raised.
    """

    def __init__(
        self,
        cal_dir: Path | str = DEFAULT_CAL_DIR,
        key_path: Path | str = DEFAULT_KEY_PATH,
        host: str | None = None,
        *,
        defer_head: bool = False,
    ) -> None:
        """``defer_head``: :meth:`emit` leaves persisting ``HEAD`` to :meth:`sync_head`.

        The sensor uses it to hand an alert to the sinkhole one fsync sooner:
        the certificate itself is durable when ``emit`` returns either way,
        and a ``HEAD`` that lags (a crash before ``sync_head``) is rolled
        forward over verified successors on the next start.
        """
        self._defer_head = defer_head
        self._head_dirty = False
        self._key = load_private_key(key_path)
        self._pub = self._key.public_key()
        self.key_id = key_id(self._pub)
        self.cal_dir = ensure_dir(Path(cal_dir), CAL_DIR_MODE)
        check_private_dir(self.cal_dir, "cal directory")
        self.host = host if host is not None else socket.gethostname()
        self._lock = threading.Lock()
        try:
            self._lock_fd = os.open(
                self.cal_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
            )
        except OSError as e:
            raise StorageError.from_os("cannot open lock file in", self.cal_dir, e) from None
        self._known_head: tuple[int, bytes] | None = None
        with self._locked():
            self._remove_stale_temps()
            self._head = self._load_head()

    # ------------------------------------------------------------ public

    @property
    def public_key(self) -> Any:
        return self._pub

    @property
    def head(self) -> tuple[int, bytes]:
        """(seq, sha256) of the newest certificate this writer knows of; (0, zeros) when empty."""
        return self._head

    def emit(self, alert: Alert, agent: AgentInfo, drops: dict[str, int]) -> tuple[Path, bytes]:
        """Sign one detection and write it durably; returns (path, exact file bytes)."""
        return self._sign(build_alert_body, alert, agent, drops)

    def record_operator_action(
        self,
        action: str,
        agent_id: str,
        reason: str,
        uid: int,
        login: str,
        *,
        containment: dict[str, Any] | None = None,
        ts_ns: int | None = None,
    ) -> tuple[Path, bytes]:
        """Sign an operator's containment or release into the same chain as the alerts."""
        return self._sign(
            build_operator_body,
            action,
            agent_id,
            reason,
            uid,
            login,
            containment=containment,
            ts_ns=_now_unless(ts_ns),
        )

    def record_lifecycle(
        self,
        action: str,
        sensor: dict[str, Any],
        reason: str,
        details: dict[str, Any] | None = None,
        *,
        count: int | None = None,
        ts_ns: int | None = None,
    ) -> tuple[Path, bytes]:
        """Sign a sensor start/stop/recovery or a gap record into the chain."""
        return self._sign(
            build_lifecycle_body, action, sensor, reason, details, count=count, ts_ns=_now_unless(ts_ns)
        )

    def record_accept(
        self,
        agent_id: str,
        channel: str,
        key: str,
        reason: str,
        uid: int,
        login: str,
        protocol: str | None = None,
    ) -> tuple[Path, bytes]:
        """Sign an operator's accept (an allowlisted destination, of ``protocol``) into the chain."""
        return self._sign(
            build_accept_body,
            agent_id,
            channel,
            key,
            reason,
            uid,
            login,
            ts_ns=time.time_ns(),
            protocol=protocol,
        )

    def record(self, build: Callable[[int, bytes], dict[str, Any]]) -> tuple[Path, bytes]:
        """Sign any body ``build(seq, prev_hash)`` returns, as the next link of the chain.

        The hook for new record kinds: define the action and its schema in
        ``h7.cal.format`` (SCHEMA), write a pure ``build_*_body`` like the ones
        here, and call this; the writer supplies seq/prev_hash under its lock
        and refuses to sign a body its own verifier would reject.
        """
        return self._append(build)

    def _sign(self, builder: Callable[..., dict[str, Any]], *args: Any, **fields: Any) -> tuple[Path, bytes]:
        """``builder(*args, at=<the next ChainPosition>, **fields)``, signed as the next link.

        The one path every ``build_*_body`` takes into the chain: host, key id
        and the signing time are this writer's, seq and prev_hash are read
        under the lock (so they are only known inside ``_append``).  The
        event's own time (``ts_ns``) is taken by the caller, before the lock
        is waited for.
        """

        def build(seq: int, prev: bytes) -> dict[str, Any]:
            return builder(
                *args, at=ChainPosition(self.host, seq, prev, self.key_id, time.time_ns()), **fields
            )

        return self._append(build)

    def sync_head(self) -> None:
        """Persist ``HEAD`` if an append left it behind (``defer_head``).

        Under the flock, and only if no other process appended since: theirs
        wrote a newer ``HEAD``, which must not be replaced by ours.
        """
        with self._locked():
            if self._head_dirty:
                if not (self.cal_dir / file_name(self._head[0] + 1)).exists():
                    self._write_head(self._head, strict=False)
                self._head_dirty = False

    def close(self) -> None:
        if self._lock_fd >= 0:
            with contextlib.suppress(Exception):
                self.sync_head()
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> CalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # ----------------------------------------------------------- locking

    class _Locked:
        def __init__(self, w: CalWriter) -> None:
            self.w = w

        def __enter__(self) -> None:
            self.w._lock.acquire()
            try:
                if self.w._lock_fd < 0:
                    raise StorageError("CalWriter is closed")
                fcntl.flock(self.w._lock_fd, fcntl.LOCK_EX)
            except BaseException:
                self.w._lock.release()
                raise

        def __exit__(self, *exc: object) -> None:
            try:
                fcntl.flock(self.w._lock_fd, fcntl.LOCK_UN)
            finally:
                self.w._lock.release()

    def _locked(self) -> CalWriter._Locked:
        return CalWriter._Locked(self)

    # -------------------------------------------------------------- head

    def _read_head_file(self) -> tuple[int, bytes] | None:
        path = self.cal_dir / HEAD_NAME
        try:
            text = read_regular(path, 4096, "chain head", StorageError, nofollow=True).decode("ascii")
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StorageError.from_os("cannot read chain head", path, e) from None
        except UnicodeDecodeError:
            raise StorageError(f"chain head {path} is not ASCII text") from None
        parts = text.split()
        try:
            if len(parts) != 4 or parts[0] != HEAD_MAGIC or parts[1] != "1":
                raise ValueError
            seq = int(parts[2])
            h = bytes.fromhex(parts[3])
            if seq < 0 or len(h) != 32 or (seq == 0) != (h == ZERO_HASH):
                raise ValueError
        except ValueError:
            raise StorageError(
                f"chain head {path} is malformed; check the chain with 'h7 verify' and remove it "
                "to rebuild the head from the newest certificate"
            ) from None
        return seq, h

    def _scan_newest(self) -> tuple[int, bytes]:
        """Head from the directory alone (first start, or HEAD deleted)."""
        best = 0
        try:
            with os.scandir(self.cal_dir) as it:
                for entry in it:
                    s = seq_from_name(entry.name)
                    if s is not None and s > best:
                        best = s
        except OSError as e:
            raise StorageError.from_os("cannot list", self.cal_dir, e) from None
        if best == 0:
            return 0, ZERO_HASH
        cert = self._read_own_cert(best)
        if cert is None:
            return 0, ZERO_HASH
        return best, cert.hash

    def _read_own_cert(self, seq: int) -> Certificate | None:
        path = self.cal_dir / file_name(seq)
        try:
            data = read_regular(path, MAX_FILE, "certificate", StorageError, nofollow=True)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StorageError.from_os("cannot read", path, e) from None
        try:
            cert = verify_bytes(data, self._pub)
        except VerificationError as e:
            raise StorageError(
                f"{path} does not verify with this host's key ({e}); refusing to extend that chain "
                "(use another --cal-dir, or investigate with 'h7 verify')"
            ) from None
        if cert.seq != seq:
            raise StorageError(f"{path} holds seq {cert.seq}, not {seq}; refusing to extend that chain")
        return cert

    def _load_head(self) -> tuple[int, bytes]:
        """Persisted head, rolled forward over certificates a crash left unrecorded."""
        head = self._read_head_file()
        from_file = head is not None
        if head is None:
            head = self._scan_newest()
        if from_file and head != self._known_head and head[0] > 0:
            known = self._read_own_cert(head[0])
            if known is None:
                log.warning(
                    "certificate %d named by %s is missing: the next certificate will record the gap",
                    head[0],
                    self.cal_dir / HEAD_NAME,
                )
            elif known.hash != head[1]:
                raise StorageError(
                    f"certificate {head[0]} does not match the hash in {self.cal_dir / HEAD_NAME}; "
                    "refusing to extend a chain that changed under us"
                )
        seq, h = head
        rolled = False
        for _ in range(MAX_ROLL_FORWARD):
            cert = self._read_own_cert(seq + 1)
            if cert is None:
                break
            if cert.prev_hash != h:
                raise StorageError(
                    f"{self.cal_dir / file_name(seq + 1)} does not chain to certificate {seq}; "
                    "refusing to extend a forked chain"
                )
            seq, h = seq + 1, cert.hash
            rolled = True
        else:
            raise StorageError(f"more than {MAX_ROLL_FORWARD} certificates beyond the recorded head")
        if rolled:
            self._write_head((seq, h), strict=False)
        self._known_head = (seq, h)
        return seq, h

    def _write_head(self, head: tuple[int, bytes], strict: bool) -> None:
        """Persist the head atomically.  Not strict: a failure only delays it (roll-forward heals)."""
        path = self.cal_dir / HEAD_NAME
        tmp = self.cal_dir / f".{HEAD_NAME}.{os.getpid()}.tmp"
        data = f"{HEAD_MAGIC} 1 {head[0]} {head[1].hex()}\n".encode("ascii")
        try:
            _fill_synced(
                os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o640),
                data,
            )
            # No directory fsync: if a crash loses this rename, the old HEAD
            # survives, which only lags, and the next open rolls it forward.
            os.rename(tmp, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            if strict:
                raise StorageError.from_os("cannot persist chain head", path, e) from None
            log.warning("cannot persist chain head %s yet: %s", path, e.strerror)

    def _remove_stale_temps(self) -> None:
        """Temp files seen while holding the flock belong to a writer that died mid-write."""
        try:
            with os.scandir(self.cal_dir) as it:
                stale = [e.path for e in it if e.name.startswith(".") and e.name.endswith(".tmp")]
        except OSError as e:
            raise StorageError.from_os("cannot list", self.cal_dir, e) from None
        for p in stale:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
            except OSError as e:
                log.warning("cannot remove stale temp file %s: %s", p, e.strerror)

    # ------------------------------------------------------------ append

    def _append(self, build: Callable[[int, bytes], dict[str, Any]]) -> tuple[Path, bytes]:
        with self._locked():
            seq, prev = self._load_head()
            data = sign_body(build(seq + 1, prev), self._key)
            path = self.cal_dir / file_name(seq + 1)
            self._write_cert(path, data)
            self._head = (seq + 1, cert_hash(data))
            if self._defer_head:
                self._head_dirty = True
            else:
                self._write_head(self._head, strict=False)
            self._known_head = self._head
            return path, data

    def _write_cert(self, path: Path, data: bytes) -> None:
        """temp + fsync, then link (never overwrite a certificate), then fsync the directory."""
        tmp = self.cal_dir / f".{path.name}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, CERT_MODE)
        except OSError as e:
            raise StorageError.from_os("cannot create", tmp, e) from None
        try:
            _fill_synced(fd, data)
            try:
                os.link(tmp, path)
            except OSError as e:
                if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
                    raise
                if path.exists():  # filesystem without hard links: rename, after checking
                    raise FileExistsError(errno.EEXIST, "exists", str(path)) from None
                os.rename(tmp, path)
        except FileExistsError:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"{path} already exists; refusing to overwrite a certificate") from None
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise StorageError.from_os("cannot write certificate", path, e) from None
        try:
            tmp.unlink(missing_ok=True)
            fsync_dir(self.cal_dir)
        except OSError as e:
            # Not known to be durable: take it back so the head does not move.
            try:
                path.unlink()
                fsync_dir(self.cal_dir)
            except OSError:
                pass
            raise StorageError.from_os("cannot make certificate durable", path, e) from None
