"""The msgpack journal: what ``h7 record`` writes and ``h7 replay`` reads.

A journal is a plain concatenation of msgpack maps: one header, then one
record per :meth:`h7.batch.Batch.to_record`.  No framing beyond msgpack's
own, because msgpack already knows where every object ends, and because a
journal cut short by ``kill -9`` must still replay everything up to the last
complete batch: the writer flushes each record as a whole, and the reader
reports a torn final record instead of failing the replay.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, BinaryIO

import msgpack

from h7.batch import AgentInfo, Batch
from h7.errors import H7Error, StorageError
from h7.safeio import open_regular

if TYPE_CHECKING:
    from h7.windows import WindowTracker

FORMAT = "h7-journal"
#: 2: syscall records carry the kernel's window code, stats count filtered syscalls.
#: Version 1 journals are read too: their windows are recomputed (h7.windows).
#: 3: the header's agents carry their attach-time working directory (``cwd``), so L3
#: resolves relative paths in a replay as it did live; 1 and 2 replay with it unknown.
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
_READ_SIZE = 1 << 20
# Journal records carry whole batches of syscalls; the default msgpack
# limits (derived from read_size) would reject a busy second.  One record is
# one batch: 200k syscalls/s at 24 bytes is ~5 MB per second of batch, so
# 256 MiB bounds what a corrupt or hostile length field can make us buffer
# while a real journal of any size still streams record by record.
MAX_RECORD_BYTES = 256 << 20
_MAX_BUFFER = MAX_RECORD_BYTES


class JournalError(H7Error):
    """A journal could not be read: not a journal, unknown version, corrupt record."""

    exit_code = 2


@dataclass
class JournalHeader:
    """First record of a journal: enough to replay without the original host."""

    host: str
    agents: list[AgentInfo]
    start_ns: int
    batch_ns: int
    version: int = VERSION
    meta: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "host": self.host,
            "agents": [a.to_dict() for a in self.agents],
            "start_ns": int(self.start_ns),
            "batch_ns": int(self.batch_ns),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_record(cls, rec: Any) -> JournalHeader:
        if not isinstance(rec, dict) or rec.get("format") != FORMAT:
            raise JournalError("not an H7 journal (first record is not a journal header)")
        version = rec.get("version")
        if version not in READABLE_VERSIONS:
            readable = ", ".join(map(str, READABLE_VERSIONS))
            raise JournalError(f"unsupported journal version {version!r} (this h7 reads {readable})")
        try:
            return cls(
                host=str(rec.get("host", "")),
                agents=[AgentInfo.from_dict(a) for a in rec.get("agents", [])],
                start_ns=int(rec["start_ns"]),
                batch_ns=int(rec["batch_ns"]),
                version=int(version),
                meta=dict(rec.get("meta", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
            raise JournalError(f"malformed journal header: {e!r}") from e


def _packer() -> msgpack.Packer:
    # surrogateescape: paths and argv come from the kernel as bytes and were
    # decoded with surrogateescape; they must round-trip, not crash the writer.
    return msgpack.Packer(use_bin_type=True, unicode_errors="surrogateescape")


class JournalWriter:
    """Append-only writer; each record is written with one ``write`` and flushed.

    One write per record means a crash can tear at most the record being
    written, which the reader then reports and skips.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO,
        header: JournalHeader,
        *,
        fsync: bool = False,
    ) -> None:
        self._own = isinstance(target, str | os.PathLike)
        self._failed = False
        if isinstance(target, str | os.PathLike):
            self._name = os.fspath(target)
            try:
                self._f: BinaryIO = open(target, "wb")  # noqa: SIM115 - closed by close()
            except OSError as e:
                raise StorageError.from_os("cannot create journal", self._name, e) from None
        else:
            self._name, self._f = getattr(target, "name", "?"), target
        self._packer = _packer()
        self._fsync = fsync
        self.batches = 0
        try:
            self._write(header.to_record())
        except StorageError:
            self.close()  # ours: not left to the garbage collector to flush again
            raise

    def _write(self, rec: dict[str, Any]) -> None:
        try:
            self._f.write(self._packer.pack(rec))
            self._f.flush()
        except OSError as e:
            self._failed = True  # what was flushed before stays a readable journal
            raise StorageError.from_os("cannot write journal", self._name, e) from None
        if self._fsync:
            with contextlib.suppress(OSError, io.UnsupportedOperation):
                os.fsync(self._f.fileno())

    def write(self, batch: Batch) -> None:
        self._write(batch.to_record())
        self.batches += 1

    def close(self) -> None:
        if self._own:
            try:
                self._f.close()
            except OSError as e:  # the buffered tail of a write that already failed: said once
                if not self._failed:
                    raise StorageError.from_os("cannot write journal", self._name, e) from None

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Truncation:
    """Where a torn final record starts and how many bytes of it were there."""

    offset: int
    nbytes: int
    batches_read: int

    def message(self) -> str:
        return (
            f"journal ends with an incomplete record at byte {self.offset} "
            f"({self.nbytes} bytes ignored; {self.batches_read} complete batches replayed)"
        )


def _batch_shape_problem(rec: dict[Any, Any]) -> str:
    """What is wrong with a batch record's container types, before anything indexes into it."""
    if type(rec["t0"]) is not int or type(rec["t1"]) is not int:
        return "t0/t1 are not integers"
    if not isinstance(rec.get("sys", b""), bytes):
        return "sys is not a byte string"
    stats = rec.get("stats", {})
    if not isinstance(stats, dict) or not all(
        type(k) is int or (isinstance(k, str) and k.isdigit()) for k in stats
    ):
        return "stats is not a map of agent number to record"
    if not all(isinstance(v, bytes) for v in stats.values()):
        return "a stats record is not a byte string"
    events = rec.get("events", [])
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return "events is not a list of maps"
    drops = rec.get("drops", {})
    if not isinstance(drops, dict) or not all(type(v) is int for v in drops.values()):
        return "drops is not a map of counters"
    procs = rec.get("procs", {})
    if not isinstance(procs, dict) or not all(
        isinstance(d, dict) and all(type(p) is int and type(n) is int for p, n in d.items())
        for d in procs.values()
    ):
        return "procs is not a map of agent number to {pid: CPU ns}"
    return ""


class JournalReader:
    """Streaming reader: the header on open, then one :class:`Batch` per iteration.

    A torn final record (the writer was killed mid-write) ends the iteration
    normally and is described in :attr:`truncated`; anything else that is not
    a valid record raises :class:`JournalError` naming the byte offset.
    """

    def __init__(self, source: str | os.PathLike[str] | IO[bytes]) -> None:
        self._own = isinstance(source, str | os.PathLike)
        self.name = str(source) if self._own else str(getattr(source, "name", "<stream>"))
        try:
            if isinstance(source, str | os.PathLike):
                # non-blocking open + fstat: a FIFO is refused instead of waited on
                fd, _ = open_regular(source, "journal", JournalError)
                self._f: IO[bytes] = os.fdopen(fd, "rb")
            else:
                self._f = source
        except OSError as e:
            raise JournalError(f"cannot open journal {self.name}: {e.strerror or e}") from e
        self._unpacker = msgpack.Unpacker(
            self._f,
            read_size=_READ_SIZE,
            raw=False,
            strict_map_key=False,
            unicode_errors="surrogateescape",
            max_buffer_size=_MAX_BUFFER,
        )
        self.truncated: Truncation | None = None
        self.batches_read = 0
        first = self._next_record()
        if first is None:
            if self.truncated is not None:
                raise JournalError(
                    f"{self.name}: journal header is incomplete ({self.truncated.nbytes} bytes)"
                )
            raise JournalError(f"{self.name}: empty journal")
        self.header = JournalHeader.from_record(first[1])
        self._windows: WindowTracker | None = None
        if self.header.version == 1:
            from h7.windows import WindowTracker

            self._windows = WindowTracker()

    def _next_record(self) -> tuple[int, Any] | None:
        offset = self._unpacker.tell()
        try:
            rec = next(self._unpacker)
        except StopIteration:
            # Either a clean end or a record cut short: msgpack cannot tell
            # them apart, but the number of bytes it was still holding can.
            pending = self._pending_bytes(offset)
            if pending:
                self.truncated = Truncation(offset, pending, self.batches_read)
            return None
        except msgpack.BufferFull:
            raise JournalError(
                f"{self.name}: record at byte {offset} is larger than {MAX_RECORD_BYTES} bytes (corrupt?)"
            ) from None
        except (
            msgpack.FormatError,
            msgpack.StackError,
            msgpack.ExtraData,
            ValueError,
            TypeError,  # e.g. a map used as a map key (unhashable)
            RecursionError,
        ) as e:
            raise JournalError(f"{self.name}: corrupt record at byte {offset}: {e}") from e
        except OSError as e:
            raise JournalError(f"{self.name}: cannot read at byte {offset}: {e.strerror or e}") from e
        return offset, rec

    def _pending_bytes(self, offset: int) -> int:
        """Bytes between the last complete record and the end of the input.

        Only knowable for a seekable input (a file); a pipe that stops mid
        record is indistinguishable from one that ends cleanly.
        """
        try:
            end = self._f.seek(0, io.SEEK_END)
        except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
            return 0
        return max(0, int(end) - offset)

    def __iter__(self) -> Iterator[Batch]:
        while True:
            nxt = self._next_record()
            if nxt is None:
                return
            offset, rec = nxt
            if not isinstance(rec, dict) or "t0" not in rec or "t1" not in rec:
                raise JournalError(f"{self.name}: record at byte {offset} is not a batch")
            problem = _batch_shape_problem(rec)
            if problem:
                raise JournalError(f"{self.name}: malformed batch at byte {offset}: {problem}")
            try:
                batch = Batch.from_record(rec, self.header.version)
                if self._windows is not None:
                    batch.syscalls = self._windows.fill(batch.syscalls)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as e:
                raise JournalError(f"{self.name}: malformed batch at byte {offset}: {e}") from e
            self.batches_read += 1
            yield batch

    def close(self) -> None:
        if self._own:
            self._f.close()

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RunJournal:
    """A live run's own journal (``h7 attach --journal``): every batch its engine judged.

    Why: a measurement made on a live run (``make eval``) can then be re-made
    by ``h7 replay`` on the very same kernel activity after a detector
    changes, instead of on a new run under other load.  The batches are
    written exactly as the engine receives them, before it judges them; after
    the baseline that includes the kernel's syscall filter (known windows are
    not shipped), which a replay scores the same (h7.detect.engine).

    The file is opened by the caller before anything is loaded (a bad path is
    a usage error, not a crash after the BPF programs are in), the header is
    written once the agents are known.  Recording must never cost detection:
    a write that fails (full disk) ends the journal with one warning and the
    run goes on.  Agents a selector finds after the start are not in the
    header, so ``h7 replay`` does not model them.
    """

    def __init__(self, f: BinaryIO, name: str, warn: Callable[[str], None]) -> None:
        self._f = f
        self.name = name
        self._warn = warn
        self._w: JournalWriter | None = None
        self.failed = ""

    @classmethod
    def open(cls, path: str | os.PathLike[str], warn: Callable[[str], None]) -> RunJournal:
        """Create (truncate) ``path``; raises :class:`h7.errors.StorageError` with a one-line reason."""
        try:
            f = open(path, "wb")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise StorageError.from_os("cannot write journal", os.fspath(path), e) from None
        return cls(f, os.fspath(path), warn)

    @property
    def batches(self) -> int:
        return self._w.batches if self._w is not None else 0

    def start(self, agents: list[AgentInfo], batch_ns: int, meta: dict[str, Any]) -> None:
        """Write the header: the agents known at the start, the batch length, ``meta``."""
        import time

        hdr = JournalHeader(socket.gethostname(), list(agents), time.monotonic_ns(), batch_ns, meta=meta)
        try:
            self._w = JournalWriter(self._f, hdr)
        except (OSError, ValueError, H7Error) as e:  # StorageError; ValueError: a closed file
            self._fail(e)

    def write(self, batch: Batch) -> None:
        if self._w is None or self.failed:
            return
        try:
            self._w.write(batch)
        except (OSError, ValueError, H7Error) as e:
            self._fail(e)

    def _fail(self, e: Exception) -> None:
        self.failed = str(e) if isinstance(e, H7Error) else f"{type(e).__name__}: {e}"
        self._warn(f"journal {self.name} stopped after {self.batches} batches: {self.failed}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._f.close()


def write_journal(
    path: str | os.PathLike[str],
    batches: list[Batch],
    agents: list[AgentInfo],
    *,
    batch_ns: int,
    host: str | None = None,
    start_ns: int | None = None,
    meta: dict[str, Any] | None = None,
) -> None:
    """Write a whole journal at once (tests, synthetic journals)."""
    header = JournalHeader(
        host=host if host is not None else socket.gethostname(),
        agents=agents,
        start_ns=start_ns if start_ns is not None else (batches[0].t0_ns if batches else 0),
        batch_ns=batch_ns,
        meta=meta or {},
    )
    with JournalWriter(path, header) as w:
        for b in batches:
            w.write(b)


def read_journal(path: str | os.PathLike[str]) -> tuple[JournalHeader, list[Batch], Truncation | None]:
    """Read a whole journal: header, every complete batch, and any torn tail."""
    with JournalReader(path) as r:
        batches = list(r)
        return r.header, batches, r.truncated
