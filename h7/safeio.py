"""Opening files an attacker may have planted: never block, never read without a bound.

``open()`` on a FIFO blocks until a writer appears, and ``read()`` of a
character device or a huge file never ends or eats memory.  Every reader of
operator-supplied or directory-found files (certificates, keys, journals,
baselines, configs, HEAD) goes through :func:`open_regular`: the open is
``O_NONBLOCK`` (a FIFO opens at once instead of hanging), then ``fstat`` on
the descriptor (no race with a rename) decides, and anything but a regular
file is refused with one line.  Sizes are capped by the caller, and the caps
are documented in docs/operations.md.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from h7.errors import H7Error, UsageError

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
    stat.S_IFLNK: "a symbolic link",
}


def kind_of(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_regular(
    path: str | os.PathLike[str], what: str, exc: type[H7Error] = UsageError, *, nofollow: bool = False
) -> tuple[int, os.stat_result]:
    """(fd, fstat) of a regular file, opened without blocking.  OSError passes through.

    ``nofollow`` refuses a symlink as the last component (files the sensor
    finds in its own directories; an operator's path may be a symlink).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_NOFOLLOW if nofollow else 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == 40:  # ELOOP: O_NOFOLLOW met a symlink
            raise exc(f"{path}: {what} is a symbolic link; refusing it") from None
        raise
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise exc(f"{path}: {what} is {kind_of(st.st_mode)}, not a regular file; refusing to read it")
    return fd, st


def read_regular(
    path: str | os.PathLike[str],
    cap: int,
    what: str,
    exc: type[H7Error] = UsageError,
    *,
    nofollow: bool = False,
) -> bytes:
    """The whole of a regular file of at most ``cap`` bytes; anything else raises ``exc`` (one line)."""
    fd, st = open_regular(path, what, exc, nofollow=nofollow)
    try:
        if st.st_size > cap:
            raise exc(f"{path}: {what} is {st.st_size} bytes, over the {cap}-byte limit")
        chunks: list[bytes] = []
        total = 0
        for _ in range(cap // 65536 + 3):  # bounded even if the file grows while read
            b = os.read(fd, min(1 << 20, cap + 1 - total))
            if not b:
                break
            chunks.append(b)
            total += len(b)
            if total > cap:
                raise exc(f"{path}: {what} grew over the {cap}-byte limit while being read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_regular_text(
    path: str | os.PathLike[str],
    cap: int,
    what: str,
    exc: type[H7Error] = UsageError,
    *,
    nofollow: bool = False,
) -> str:
    """UTF-8 text of a regular file; bad encoding is one line too, never a traceback."""
    raw = read_regular(path, cap, what, exc, nofollow=nofollow)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise exc(f"{path}: {what} is not valid UTF-8 (byte {e.start})") from None


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a directory's entries durable (a file created, linked or renamed in it survives a crash)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_observed(path: str | os.PathLike[str]) -> BinaryIO:
    """A regular file that a WATCHED process named (its executable, a script, a file it wrote),
    opened read-only for the detectors; OSError for anything else, and for a file that is gone.

    Why not :func:`open_regular`: that one opens first and asks after, so a FIFO is opened
    (without blocking) before it is refused, and for that instant the sensor is one of the
    FIFO's readers -- a writer waiting in its open is let through, and what it writes may be
    read by nobody (EPIPE) or interleave with the real reader's data.  A process the sensor
    watches must not see the sensor at all, so here the path is stat'ed first and only a
    regular file is opened (``O_NONBLOCK``, in case it was swapped for a FIFO meanwhile), then
    checked to be that same file.  Red-team round 9's ``l3r9_cycle_named_fifo`` found the old
    blocking ``open()``: the sensor read the agent's answer out of its named pipe.
    """
    st0 = os.stat(path)
    if not stat.S_ISREG(st0.st_mode):
        raise OSError(errno.EINVAL, f"{kind_of(st0.st_mode)}, not a regular file", str(path))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (st0.st_dev, st0.st_ino):
        os.close(fd)
        raise OSError(errno.ESTALE, "replaced while being opened", str(path))
    return os.fdopen(fd, "rb")


# -- bounded inspection of what a watched process controls -------------------------------------

T = TypeVar("T")


class StallError(OSError):
    """A file a watched process named did not answer in time (``errno.ETIMEDOUT``).

    An ``OSError``, so every detector's "the file cannot be read" path applies unchanged; the
    stall itself is recorded (:meth:`Observer.take_stalls`) for the detector to report.
    """

    def __init__(self, reason: str, path: str) -> None:
        super().__init__(errno.ETIMEDOUT, reason, path)


@dataclass(frozen=True)
class Stall:
    """One inspection that did not complete: what, where, why, and what the caller was judging."""

    op: str  # stat | realpath (realpath and stat) | read
    path: str
    mount: str  # the mount point the path lies under, "" if unknown
    fstype: str
    reason: str  # timeout | mount-cooling | workers-busy
    waited_s: float
    subject: Any  # set by the caller (Observer.subject), e.g. the event being judged


class _Job:
    __slots__ = ("abandoned", "done", "error", "finished", "fn", "release", "result", "ticks")

    def __init__(self, fn: Callable[[], Any], release: Callable[[Any], None] | None = None) -> None:
        self.fn = fn
        self.release = release  # frees a result nobody took (the caller gave up)
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.ticks = 0
        self.finished = False  # under Observer._lock: the result is set
        self.abandoned = False  # under Observer._lock: the caller stopped waiting


_tls = threading.local()


def progress() -> None:
    """Tell the waiter that a long inspection (a hash, a marker scan) is still moving.

    Called once per chunk by the readers that loop; a no-op outside an observed call.  The
    deadline is on the time *without* progress, so hashing a large file on a busy host is
    not a stall, and a filesystem that answers nothing is.
    """
    job = getattr(_tls, "job", None)
    if job is not None:
        job.ticks += 1


class Observer:
    """Runs the filesystem calls the detectors make on paths a watched process named, each in a
    worker thread with a deadline, so no such path can hold the detection thread.

    Why: ``stat``/``open``/``read`` of a file on a filesystem the agent serves itself (FUSE,
    mountable without privilege where ``fusermount3`` is installed) wait for the agent's answer,
    for ever if it chooses.  It can tell the sensor's requests from its own (the FUSE request
    names the calling pid), serve its own exec and stall the sensor's look at it.  The detection
    thread runs every channel: one such ``stat`` blinded all of them.  A thread blocked in a FUSE
    request cannot be interrupted (only a fatal signal ends the wait), so the worker is left
    behind and the caller gets :class:`StallError`:

    * a call that has not finished after ``timeout_s`` with no :func:`progress` is given up
      (``timeout``), and the path's mount point is *cooling* for ``cooldown_s``: calls on paths
      under it fail at once (``mount-cooling``), so a filesystem that stalls costs the sensor
      one ``timeout_s`` per ``cooldown_s``, not one per look;
    * at most ``workers`` calls are ever outstanding: with every worker stuck, calls fail at once
      (``workers-busy``).  A worker whose call returns (the filesystem answered or was aborted)
      is reused.

    Every stall is recorded for the thread that asked (:meth:`take_stalls`): L2 certifies it as
    ``INSPECTION_STALLED``.  A call that fails for itself (ENOENT...) is no stall.
    """

    #: a call that makes progress is still given up after this long (a 1-GiB hash is not normal)
    CAP_S = 120.0
    #: at most this many stalls are kept per thread until taken (a thread nobody drains)
    KEEP = 64

    def __init__(self, timeout_s: float = 2.0, cooldown_s: float = 60.0, workers: int = 4) -> None:
        self.timeout_s = timeout_s
        self.cooldown_s = cooldown_s
        self.workers = workers
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[_Job | None]] = []
        self._started = 0
        self._busy = 0
        self._cooling: dict[str, float] = {}
        self._mounts: tuple[float, list[tuple[str, str]]] = (0.0, [])
        self._local = threading.local()  # per thread: its subject and its stalls not yet taken
        self.stalls_total = 0

    def configure(self, timeout_s: float, cooldown_s: float) -> None:
        self.timeout_s = timeout_s
        self.cooldown_s = cooldown_s

    # -- what callers use ------------------------------------------------------------------
    def stat(self, path: str) -> os.stat_result:
        return self.call("stat", path, lambda: os.stat(path))

    def realpath_stat(self, path: str) -> tuple[str, os.stat_result]:
        """``(os.path.realpath(path), os.stat(path))`` in one hand-off: both walk the same path."""
        return self.call("realpath", path, lambda: (os.path.realpath(path), os.stat(path)))

    def read(self, path: str, fn: Callable[[BinaryIO], T]) -> T:
        """``fn(f)`` on the regular file at ``path`` (:func:`open_observed`), closed before returning.

        ``fn`` runs in the worker: it must only read the file and compute (no shared state it
        could change after the caller was told it stalled).
        """

        def run() -> T:
            with open_observed(path) as f:
                return fn(f)

        return self.call("read", path, run)

    def hold(self, path: str, fn: Callable[[BinaryIO], T]) -> tuple[int, T]:
        """``(fd, fn(f))``: :meth:`read`, keeping the file open for the caller, who closes ``fd``.

        Why: a link such as ``/proc/<pid>/exe`` names the executed file only until the
        process execs again; a detector that proved the link led to that file and then named
        the link again read another program (session 30: a recoded dash that exec'd ``touch``
        went uncertified).  ``/proc/self/fd/<fd>`` names the held file for every later look.
        A worker that answers after the caller gave up closes the fd itself.
        """

        def run() -> tuple[int, T]:
            with open_observed(path) as f:
                got = fn(f)
                return os.dup(f.fileno()), got

        return self.call("read", path, run, release=lambda r: os.close(r[0]))

    def subject(self, what: Any) -> None:
        """What this thread is judging now (named in any stall recorded until the next call)."""
        self._local.subject = what

    def take_stalls(self) -> list[Stall]:
        """The stalls recorded for this thread since the last call (and forget them)."""
        got: deque[Stall] | None = getattr(self._local, "stalls", None)
        if not got:
            return []
        out = list(got)
        got.clear()
        return out

    def status(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            return {
                "stalls": self.stalls_total,
                "workers_stuck": self._busy,
                "cooling": sorted(m for m, t in self._cooling.items() if t > now),
            }

    # -- the mechanism ---------------------------------------------------------------------
    def call(self, op: str, path: str, fn: Callable[[], T], release: Callable[[T], None] | None = None) -> T:
        t0 = time.monotonic()
        # resolved before the look: a process that exits while its exe stalls leaves no link
        real = _proc_link_target(path)
        where: tuple[str, str] | None = None
        if self._cooling:
            where = self._mount_of(real)
            with self._lock:
                until = self._cooling.get(where[0], 0.0)
                if until <= t0:
                    self._cooling.pop(where[0], None)
            if until > t0:
                raise self._stalled(op, path, "mount-cooling", 0.0, where)
        q = self._worker()
        if q is None:
            raise self._stalled(op, path, "workers-busy", 0.0, where or self._mount_of(real))
        job = _Job(fn, release)
        q.put(job)
        seen = 0
        while not job.done.wait(self.timeout_s):
            if job.ticks == seen or time.monotonic() - t0 > self.CAP_S:
                with self._lock:
                    job.abandoned = not job.finished
                if not job.abandoned:
                    break  # it answered just now: take the answer
                waited = time.monotonic() - t0
                where = where or self._mount_of(real)
                # never procfs itself (a link that could not be read) nor an unknown mount:
                # cooling those would skip every look at every process's exe
                if where[0] and where[1] != "proc":
                    with self._lock:
                        self._cooling[where[0]] = time.monotonic() + self.cooldown_s
                raise self._stalled(op, path, "timeout", waited, where)
            seen = job.ticks
        if job.error is not None:
            raise job.error
        return job.result

    def _stalled(self, op: str, path: str, reason: str, waited: float, where: tuple[str, str]) -> StallError:
        mount, fstype = where
        s = Stall(op, path, mount, fstype, reason, round(waited, 3), getattr(self._local, "subject", None))
        got: deque[Stall] | None = getattr(self._local, "stalls", None)
        if got is None:
            got = self._local.stalls = deque(maxlen=self.KEEP)
        got.append(s)
        with self._lock:
            self.stalls_total += 1
        what = {
            "timeout": f"no answer in {self.timeout_s:g} s",
            "mount-cooling": f"{mount or 'its filesystem'} stalled an earlier look",
            "workers-busy": f"all {self.workers} inspection threads are held by earlier stalls",
        }[reason]
        return StallError(f"{op} skipped: {what}", path)

    def _worker(self) -> queue.SimpleQueue[_Job | None] | None:
        with self._lock:
            if self._idle:
                q = self._idle.pop()
            elif self._started < self.workers:
                q = queue.SimpleQueue()
                self._started += 1
                threading.Thread(target=self._serve, args=(q,), name="h7-observe", daemon=True).start()
            else:
                return None
            self._busy += 1
            return q

    def _serve(self, q: queue.SimpleQueue[_Job | None]) -> None:
        while True:
            job = q.get()
            if job is None:
                return
            _tls.job = job
            try:
                job.result = job.fn()
            except BaseException as e:  # handed to the caller, who re-raises it
                job.error = e
            finally:
                _tls.job = None
                with self._lock:
                    self._busy -= 1
                    self._idle.append(q)
                    job.finished = True
                    late = job.abandoned
                job.done.set()
            if late and job.error is None and job.release is not None:
                with contextlib.suppress(OSError):
                    job.release(job.result)

    def _mount_of(self, real: str) -> tuple[str, str]:
        """(mount point, fstype) of the longest mount point that is a prefix of ``real``.

        Lexical, from /proc/self/mountinfo: nothing is asked of the path's own filesystem (that is
        what stalled).  ``real`` comes from :func:`_proc_link_target`.  The sensor's mount
        namespace: a path in another one may map to the wrong mount, which only changes what
        cools down.
        """
        now = time.monotonic()
        t, mounts = self._mounts
        if now - t > 5.0 or not mounts:
            mounts = _read_mounts()
            self._mounts = (now, mounts)
        best = ("", "")
        for mp, fstype in mounts:
            if (real == mp or real.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best[0]):
                best = (mp, fstype)
        return best


def _proc_link_target(path: str) -> str:
    """``path`` normalised; ``/proc/<pid>/{exe,cwd,root}/...`` through the link (procfs answers
    a readlink itself, without asking the filesystem the link leads to)."""
    norm = os.path.normpath(path)
    parts = norm.split("/")
    if len(parts) == 5 and parts[1:4] == ["proc", "self", "fd"] and parts[4].isdigit():
        try:  # a file held by Observer.hold
            return os.path.normpath(os.readlink(norm))
        except OSError:
            return norm
    if len(parts) >= 4 and parts[1] == "proc" and parts[2].isdigit() and parts[3] in ("exe", "cwd", "root"):
        try:
            target = os.readlink("/".join(parts[:4]))
        except OSError:
            return norm
        return os.path.normpath("/".join([target, *parts[4:]]))
    return norm


def _read_mounts() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) < 5 or not right:
                    continue
                mp = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
                mp = mp.replace("\\134", "\\")
                out.append((mp, right.split()[0]))
    except OSError:
        pass
    return out


#: the process's one observer: every detector shares its workers and its cooling mounts
OBSERVER = Observer()
