"""The sensor's durable, ordered, bounded on-disk queue of alerts.

One file per alert, named by a monotonically increasing sequence number.
Each is written to a temporary name, fsynced, renamed into place and the
directory fsynced, so after a crash (kill -9, power loss) an entry is either
complete under its final name or absent; leftovers under temporary names are
swept at start-up.  Removing an entry is an unlink, which is why the spool
is a directory and not a single log file that would need compaction.

An exclusive flock on ``.lock`` keeps two sensors from delivering (and
deleting) the same entries.  The kernel drops the lock when its holder dies,
however it dies, so a restarted sensor takes over a dead one's spool.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import struct
import threading
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from h7.errors import DeliveryError, StorageError
from h7.safeio import fsync_dir, read_regular

_MAGIC = b"H7SP"
_HDR = struct.Struct(">4sI")  # magic, crc32 of the payload
_SUFFIX = ".alert"
_SEQ_WIDTH = 16
MAX_ENTRY_BYTES = 17 << 20  # one alert: a certificate (<= 16 MiB) and its summary


class SpoolFull(DeliveryError):
    """Accepting the alert would exceed the spool's byte budget; it was not spooled."""


@dataclass(frozen=True)
class Entry:
    seq: int
    size: int
    record: dict[str, Any]


class Spool:
    """A directory of pending alerts, oldest first, at most ``max_bytes`` on disk."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._sizes: dict[int, int] = {}
        self._order: deque[int] = deque()  # seqs oldest first; removals are almost always the head
        self._bytes = 0
        self._next_seq = 1
        self._reserved: dict[int, int] = {}  # seq -> bytes, taken but not yet written
        self._cancelled: set[int] = set()  # reserved entries acknowledged before their write
        self.quarantined = 0
        self._lock_fd = -1
        self._open()

    # -- start-up ---------------------------------------------------------
    def _open(self) -> None:
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = self.dir.stat()
        except OSError as e:
            raise StorageError(f"cannot create spool directory {self.dir}: {e.strerror}") from e
        if not stat.S_ISDIR(st.st_mode):
            raise StorageError(f"spool path {self.dir} is not a directory")
        # Anyone who can write here can inject or delete alerts.
        if st.st_uid != os.geteuid():
            raise StorageError(f"spool directory {self.dir} is owned by uid {st.st_uid}, not by us")
        if st.st_mode & 0o022:
            raise StorageError(f"spool directory {self.dir} is group- or world-writable")
        lock_path = self.dir / ".lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise StorageError.from_os("cannot create spool lock", lock_path, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StorageError(f"spool {self.dir} is in use by another process (pid {holder})") from e
            raise StorageError(f"cannot lock spool {self.dir}: {e.strerror}") from e
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:
            os.close(fd)
            raise StorageError.from_os("cannot write spool lock", lock_path, e) from None
        self._lock_fd = fd
        for p in self.dir.iterdir():
            name = p.name
            if name.startswith(".") and name.endswith(".tmp"):
                # An append that died before its rename: never acknowledged to the caller.
                p.unlink(missing_ok=True)
            elif name.endswith(_SUFFIX) and name[: -len(_SUFFIX)].isdigit():
                seq = int(name[: -len(_SUFFIX)])
                lst = p.lstat()
                if not stat.S_ISREG(lst.st_mode):
                    # Planted (we only ever write regular files): set aside, never opened.
                    self._set_aside(p)
                    continue
                size = lst.st_size
                self._sizes[seq] = size
                self._bytes += size
                self._next_seq = max(self._next_seq, seq + 1)
        self._order.extend(sorted(self._sizes))

    def close(self) -> None:
        with self._lock:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = -1

    # -- queue operations -------------------------------------------------
    def _path(self, seq: int) -> Path:
        return self.dir / f"{seq:0{_SEQ_WIDTH}d}{_SUFFIX}"

    @staticmethod
    def encode(record: dict[str, Any]) -> bytes:
        payload: bytes = msgpack.packb(record, use_bin_type=True)
        return _HDR.pack(_MAGIC, zlib.crc32(payload)) + payload

    def append(self, record: dict[str, Any]) -> int:
        """Durably add ``record``; returns its sequence number.

        Raises SpoolFull when over budget (nothing written) and StorageError
        when the filesystem refuses (nothing left behind under a final name).
        """
        blob = self.encode(record)
        seq = self.reserve(len(blob))
        self.write(seq, blob)
        return seq

    def reserve(self, nbytes: int) -> int:
        """Take the next sequence number for an entry of ``nbytes`` (counted against the budget).

        Lets a caller hand the record to the sender before the slow part
        (:meth:`write`): if the sinkhole acknowledges it first, :meth:`remove`
        cancels the write and the entry never touches the disk.
        """
        with self._lock:
            if self._lock_fd < 0:
                raise StorageError("spool is closed")
            if self._bytes + nbytes > self.max_bytes:
                raise SpoolFull(
                    f"alert spool {self.dir} is full ({self._bytes} of {self.max_bytes} bytes, "
                    f"{len(self._sizes)} alerts pending)"
                )
            seq = self._next_seq
            self._next_seq += 1
            self._reserved[seq] = nbytes
            self._bytes += nbytes
            return seq

    def write(self, seq: int, blob: bytes) -> None:
        """Make reserved entry ``seq`` durable (unless it was acknowledged meanwhile)."""
        with self._lock:
            nbytes = self._reserved.pop(seq, None)
            if nbytes is None:
                raise StorageError(f"spool entry {seq} was not reserved")
            self._bytes -= nbytes
            if seq in self._cancelled:
                self._cancelled.discard(seq)
                return  # delivered before it needed to be durable
            final = self._path(seq)
            tmp = self.dir / f".{seq}.tmp"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    view = memoryview(blob)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(tmp, final)
                fsync_dir(self.dir)
            except OSError as e:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                with contextlib.suppress(OSError):
                    final.unlink()
                raise StorageError(f"cannot spool alert to {self.dir}: {e.strerror}") from e
            self._sizes[seq] = len(blob)
            # Sequence numbers are taken in order but written by one caller at a
            # time; keep the queue sorted even if a write ever lands late.
            if self._order and self._order[-1] > seq:
                self._order = deque(sorted([*self._order, seq]))
            else:
                self._order.append(seq)
            self._bytes += len(blob)

    def peek(self) -> Entry | None:
        """The oldest readable entry.  Unreadable ones are moved aside, not deleted."""
        while True:
            with self._lock:
                if not self._sizes:
                    return None
                seq = self._order[0]
                path = self._path(seq)
                try:
                    blob = read_regular(path, MAX_ENTRY_BYTES, "spool entry", StorageError, nofollow=True)
                except FileNotFoundError:
                    self._forget(seq)
                    continue
                except StorageError:
                    self._quarantine(seq)  # not a regular file, or too big to be ours
                    continue
                except OSError as e:
                    raise StorageError(f"cannot read spool entry {path}: {e.strerror}") from e
                record = self._decode(blob)
                if record is None:
                    self._quarantine(seq)
                    continue
                return Entry(seq, len(blob), record)

    @staticmethod
    def _decode(blob: bytes) -> dict[str, Any] | None:
        if len(blob) < _HDR.size:
            return None
        magic, crc = _HDR.unpack_from(blob)
        payload = blob[_HDR.size :]
        if magic != _MAGIC or zlib.crc32(payload) != crc:
            return None
        try:
            rec = msgpack.unpackb(payload, raw=False)
        except Exception:
            return None
        return rec if isinstance(rec, dict) else None

    def _set_aside(self, p: Path) -> None:
        bad = self.dir / "corrupt"
        with contextlib.suppress(OSError):
            bad.mkdir(mode=0o700, exist_ok=True)
            os.rename(p, bad / p.name)
        self.quarantined += 1

    def _quarantine(self, seq: int) -> None:
        bad = self.dir / "corrupt"
        bad.mkdir(mode=0o700, exist_ok=True)
        with contextlib.suppress(OSError):
            os.rename(self._path(seq), bad / self._path(seq).name)
        self.quarantined += 1
        self._forget(seq)

    def _forget(self, seq: int) -> None:
        self._bytes -= self._sizes.pop(seq, 0)
        while self._order and self._order[0] not in self._sizes:
            self._order.popleft()

    def remove(self, seq: int) -> None:
        """Drop an entry the sinkhole acknowledged (cancelling its write if still reserved)."""
        with self._lock:
            if seq in self._reserved:
                self._cancelled.add(seq)
                return
            try:
                self._path(seq).unlink()
            except FileNotFoundError:
                pass
            except OSError as e:
                raise StorageError(f"cannot remove spool entry {seq}: {e.strerror}") from e
            self._forget(seq)

    @property
    def depth(self) -> int:
        with self._lock:
            return len(self._sizes)

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes
