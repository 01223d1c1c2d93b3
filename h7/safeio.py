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

import errno
import os
import stat
from typing import BinaryIO

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
