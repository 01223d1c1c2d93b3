"""A real FUSE filesystem for the tests, spoken over /dev/fuse with no library (root only).

Two kinds, both mounted with mount(2) on a fresh /dev/fuse descriptor:

* :func:`dead_mount` never answers anything (not even the kernel's INIT): every lookup under
  it waits until the mount is torn down.  The simplest filesystem that stalls its caller.
* :class:`OneFileFS` serves one read-only regular file, ``/<name>``, to every process but one
  thread group, whose requests it holds unanswered until the mount is torn down: what an
  agent that serves its own files can do to a sensor looking at them (the request header
  names the calling task, so the server can tell the sensor from the agent).

The server is a thread of the calling process: never exec a file of the mount from that
process itself (CPython's subprocess vforks holding the GIL, and the server then cannot answer
the exec).  A child process that execs it is served.

Teardown (the context managers) unmounts lazily and closes the device: the kernel then aborts
every request still waiting (ENOTCONN/ECONNABORTED), so a thread stuck in one is released.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import select
import stat
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
MNT_DETACH = 2

# opcodes (include/uapi/linux/fuse.h)
LOOKUP, FORGET, GETATTR, OPEN, READ, RELEASE, FLUSH, INIT = 1, 2, 3, 14, 15, 18, 25, 26
OPENDIR, RELEASEDIR, INTERRUPT, BATCH_FORGET = 27, 29, 36, 42
_NO_REPLY = {FORGET, BATCH_FORGET, INTERRUPT}
IN_HEADER = struct.Struct("<IIQQIIIHH")  # len opcode unique nodeid uid gid pid total_extlen padding
OUT_HEADER = struct.Struct("<IiQ")  # len error unique
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")  # fuse_attr, 88 bytes
ROOT, FILE = 1, 2


def _mount(fd: int, where: Path, subtype: str) -> None:
    opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other".encode()
    if _libc.mount(subtype.encode(), str(where).encode(), b"fuse", 0, opts) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount fuse: {os.strerror(e)}", str(where))


def _umount(where: Path) -> None:
    _libc.umount2(str(where).encode(), MNT_DETACH)


def fuse_available() -> str | None:
    """Why a FUSE mount cannot be made here, or None."""
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    return None


@contextmanager
def dead_mount(where: Path) -> Iterator[Path]:
    """A FUSE mount whose server never answers: any lookup under it blocks until teardown."""
    where.mkdir(parents=True, exist_ok=True)
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    try:
        _mount(fd, where, "h7dead")
        try:
            yield where
        finally:
            _umount(where)
    finally:
        os.close(fd)  # aborts the connection: waiting requests fail


class OneFileFS:
    """Serves ``/<name>`` (``data``, mode 0755) to everyone but thread group ``stall_tgid``."""

    def __init__(self, where: Path, name: str, data: bytes, stall_tgid: int) -> None:
        self.where, self.name, self.data, self.stall_tgid = where, name, data, stall_tgid
        self.held = 0  # requests left unanswered (the stalled process's)
        self.served = 0
        self._stop = threading.Event()
        self._fd = -1
        self._t: threading.Thread | None = None

    def __enter__(self) -> OneFileFS:
        self.where.mkdir(parents=True, exist_ok=True)
        self._fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        try:
            _mount(self._fd, self.where, "h7one")
        except OSError:
            os.close(self._fd)
            raise
        self._t = threading.Thread(target=self._serve, name="fuse-one", daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._t is not None:
            self._t.join(5)
        _umount(self.where)
        os.close(self._fd)

    def _tgid(self, tid: int) -> int:
        try:
            with open(f"/proc/{tid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"Tgid:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return tid

    def _attr(self, node: int) -> bytes:
        if node == ROOT:
            mode, size, nlink = stat.S_IFDIR | 0o755, 0, 2
        else:
            mode, size, nlink = stat.S_IFREG | 0o755, len(self.data), 1
        return ATTR.pack(node, size, (size + 511) // 512, 0, 0, 0, 0, 0, 0, mode, nlink, 0, 0, 0, 4096, 0)

    def _reply(self, unique: int, body: bytes = b"", err: int = 0) -> None:
        with contextlib.suppress(OSError):  # the request was interrupted meanwhile
            os.write(self._fd, OUT_HEADER.pack(OUT_HEADER.size + len(body), -err, unique) + body)

    def _serve(self) -> None:
        poll = select.poll()
        poll.register(self._fd, select.POLLIN)
        for _ in range(1_000_000):  # bounded: a test makes a few hundred requests
            if self._stop.is_set():
                return
            if not poll.poll(100):
                continue
            try:
                buf = os.read(self._fd, (1 << 20) + 4096)
            except OSError as e:
                if e.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                    continue
                return  # ENODEV: unmounted
            _len, op, unique, node, _uid, _gid, pid, _x, _p = IN_HEADER.unpack_from(buf)
            arg = buf[IN_HEADER.size :]
            if op in _NO_REPLY:
                continue
            if op == INIT:
                _major, _minor, readahead = struct.unpack_from("<III", arg)
                # major minor max_readahead flags max_background congestion max_write time_gran
                # max_pages map_alignment flags2 max_stack_depth unused[6]
                body = struct.pack("<IIIIHHIIHHII24x", 7, 31, readahead, 0, 16, 12, 1 << 17, 1, 32, 0, 0, 0)
                self._reply(unique, body)
                continue
            if self._tgid(pid) == self.stall_tgid:
                self.held += 1
                continue  # never answered: the caller waits until teardown
            self.served += 1
            if op == LOOKUP:
                name = arg.split(b"\0", 1)[0].decode()
                if node != ROOT or name != self.name:
                    self._reply(unique, err=errno.ENOENT)
                    continue
                # nodeid generation entry_valid attr_valid (0 s: every look asks again) nsecs
                self._reply(unique, struct.pack("<QQQQII", FILE, 1, 0, 0, 0, 0) + self._attr(FILE))
            elif op == GETATTR:
                self._reply(unique, struct.pack("<QII", 0, 0, 0) + self._attr(node))
            elif op in (OPEN, OPENDIR):
                self._reply(unique, struct.pack("<QII", 0, 0, 0))
            elif op == READ:
                _fh, off, size = struct.unpack_from("<QQI", arg)
                self._reply(unique, self.data[off : off + size])
            elif op in (RELEASE, RELEASEDIR, FLUSH):
                self._reply(unique)
            else:
                self._reply(unique, err=errno.ENOSYS)
