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

import os
import stat

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
