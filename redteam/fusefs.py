"""A real FUSE filesystem, spoken over /dev/fuse with no library (root: mount(2) directly).

For the tests (``tests/test_observed_stall.py``) and the red-team variant that serves its own
exec (``g4_fuse_served_padded_dash``).  Two kinds, both mounted on a fresh /dev/fuse fd:

* :func:`dead_mount` never answers anything (not even the kernel's INIT): every lookup under
  it waits until the mount is torn down.  The simplest filesystem that stalls its caller.
* :class:`OneFileFS` serves one read-only regular file, ``/<name>``, and holds unanswered every
  request whose caller's thread group ``stall(tgid)`` picks, until the mount is torn down: what
  an agent that serves its own files can do to a sensor looking at them (the request header
  names the calling task, so the server can tell the sensor from the agent).  It serves from a
  thread (the context manager) or from a forked process (:meth:`OneFileFS.fork_server`).

From a thread, never exec a file of the mount from the serving process itself (CPython's
subprocess vforks holding the GIL, and the server then cannot answer the exec); a child
process that execs it is served.  A forked server has no such limit.

Teardown (the context manager, :meth:`OneFileFS.stop_forked`) unmounts lazily and closes the
device: the kernel then aborts every request still waiting (ENOTCONN/ECONNABORTED), so a thread
stuck in one is released.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import select
import signal
import stat
import struct
import threading
from collections.abc import Callable, Iterator
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


def tgid_of(tid: int) -> int:
    """The thread group (process) of task ``tid`` (a FUSE request names the calling task)."""
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return tid


def outside_tree(root: int) -> Callable[[int], bool]:
    """A ``stall`` rule: every process that does not descend from ``root`` (the agent's way)."""

    def stall(tgid: int) -> bool:
        pid = tgid
        for _ in range(64):  # bounded walk up the parents
            if pid == root:
                return False
            if pid <= 1:
                return True
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    pid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                return True
        return True

    return stall


class OneFileFS:
    """Serves ``/<name>`` (``data``, mode 0755) to every process ``stall`` does not pick."""

    def __init__(self, where: Path, name: str, data: bytes, stall: Callable[[int], bool]) -> None:
        self.where, self.name, self.data, self.stall = where, name, data, stall
        self.held = 0  # requests left unanswered (the stalled processes')
        self.served = 0
        self._stop = threading.Event()
        self._fd = -1
        self._t: threading.Thread | None = None
        self._child = 0

    def _mount(self) -> None:
        self.where.mkdir(parents=True, exist_ok=True)
        self._fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        try:
            _mount(self._fd, self.where, "h7one")
        except OSError:
            os.close(self._fd)
            raise

    def __enter__(self) -> OneFileFS:
        self._mount()
        self._t = threading.Thread(target=self._serve, name="fuse-one", daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._t is not None:
            self._t.join(5)
        _umount(self.where)
        os.close(self._fd)

    def fork_server(self) -> int:
        """Mount, then serve from a forked child (no threads there); returns its pid.

        The parent closes its copy of the device at once, so that the child's death (SIGKILL
        from :meth:`stop_forked`) closes the last one and aborts every request left waiting.
        """
        self._mount()
        pid = os.fork()
        if pid == 0:  # the server: only this loop, then out without Python's clean-up
            try:
                self._serve()
            finally:
                os._exit(0)
        os.close(self._fd)
        self._child = pid
        return pid

    def stop_forked(self) -> None:
        if self._child:
            os.kill(self._child, signal.SIGKILL)
            os.waitpid(self._child, 0)
            self._child = 0
        _umount(self.where)

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
            if self.stall(tgid_of(pid)):
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
