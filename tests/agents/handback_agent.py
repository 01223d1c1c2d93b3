"""A watched agent whose helper hands it an open file over a unix socket (SCM_RIGHTS).

Why: L3's read edges came only from opens; a process that reads a file through
an fd it RECEIVED never opened it (red-team round 8's fd hand-back class).  The
real-BPF tests (tests/test_l3_handback.py) drive this agent over stdin, one
command per line, one reply line each:

  own DIR      the agent writes DIR/notes.txt itself, then starts a helper that
               opens it read-only and passes the fd back; the agent preads it
               (benign: the agent reads back its own file, no loop)
  result DIR   the agent starts a helper that creates DIR/result.json (O_RDWR),
               writes its output there and passes the open fd back; the agent
               preads it and never opens the path (a loop: the agent's child
               wrote what the agent reads)
  mmsg DIR     as ``result``, the fd received with recvmmsg(2) (libc, ctypes)
  handle DIR   a helper creates and writes DIR/result.json and exits; the agent
               reads it through name_to_handle_at + open_by_handle_at (an open
               with no path: a loop)
  getfd DIR    a helper opens and writes DIR/result.json and waits; the agent
               pulls the fd with pidfd_getfd and preads it (a loop); the reply
               ends with the helper's pid
  tmpgetfd DIR as ``getfd``, the helper's file an unnamed O_TMPFILE in DIR
  procfd DIR   a helper opens and writes DIR/result.json and waits; the agent
               opens /proc/HELPER/fd/N read-only and preads it (a loop: the
               agent's open names only /proc); the reply ends with the helper's pid
  tmpprocfd DIR  as ``procfd``, the helper's file an unnamed O_TMPFILE in DIR
  respelled MODE DIR  a helper (an exec'd child) writes a file, the agent opens it for
               reading by another spelling: ``symlink`` (helper writes DIR/link/out.json,
               ``link`` -> ``real``; the agent reads DIR/real/out.json), ``dirfd`` (helper
               writes DIR/out.json; the agent opens DIR, then ``out.json`` relative to that
               fd), ``own`` (the agent itself writes DIR/link/mine.json and reads
               DIR/real/mine.json: its own file, no loop); the reply ends with the helper's pid
  shm_loop     the agent creates and attaches a SysV segment, starts a helper that
               attaches it by id and writes its result there, then reads the
               result from its own attachment (no syscall: a loop)
  shm_task     the agent writes a task into its segment, a helper attaches it
               SHM_RDONLY and reads it; nothing comes back (benign)
  exit         leave

``helper MODE PATH FD`` and ``shmhelper MODE ID`` are the helpers' entry points.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import sys

PAYLOAD = b'{"answer": 42}\n'


def writer(path: str, wait: bool, tmp: bool = False) -> None:
    """Create and write ``path`` (``tmp``: an unnamed O_TMPFILE in its directory); with ``wait``,
    print the fd and hold it until stdin closes."""
    if tmp:
        f = os.open(os.path.dirname(path), os.O_TMPFILE | os.O_RDWR, 0o600)
    else:
        f = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(f, PAYLOAD)
    if wait:
        print(f, flush=True)
        sys.stdin.read()
    os.close(f)


class _FileHandle(ctypes.Structure):
    _fields_ = [
        ("handle_bytes", ctypes.c_uint),
        ("handle_type", ctypes.c_int),
        ("f_handle", ctypes.c_ubyte * 128),
    ]


def pulled(mode: str, d: str) -> str:
    """The helper's result read by its handle (``handle``), by taking its fd (``getfd``,
    ``tmpgetfd``) or by opening its fd's magic link /proc/PID/fd/N (``procfd``, ``tmpprocfd``)."""
    path = os.path.join(d, "result.json")
    if mode == "handle":
        subprocess.run([sys.executable, __file__, "writer", path, "0"], check=True, timeout=30)
        h = _FileHandle(handle_bytes=128)
        mnt = ctypes.c_int()
        if _libc.name_to_handle_at(-100, path.encode(), ctypes.byref(h), ctypes.byref(mnt), 0):
            raise OSError(ctypes.get_errno(), "name_to_handle_at")
        dirfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        fd = _libc.open_by_handle_at(dirfd, ctypes.byref(h), os.O_RDONLY)
        os.close(dirfd)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "open_by_handle_at")
        src = ""
    else:
        tmp = "1" if mode.startswith("tmp") else "0"
        p = subprocess.Popen(
            [sys.executable, __file__, "writer", path, "1", tmp],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert p.stdout is not None and p.stdin is not None
        theirs = int(p.stdout.readline())
        if mode.endswith("procfd"):
            fd = os.open(f"/proc/{p.pid}/fd/{theirs}", os.O_RDONLY)
        else:
            pidfd = os.pidfd_open(p.pid)
            fd = _libc.syscall(438, pidfd, theirs, 0)  # pidfd_getfd
            os.close(pidfd)
        p.stdin.close()
        p.wait(timeout=30)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
        src = f" from {p.pid}"
    data = os.pread(fd, 4096, 0)
    os.close(fd)
    return f"read {len(data)} fd {fd}{src}"


def respelled(mode: str, d: str) -> str:
    """A file written under one spelling and read by the agent under another (see the docstring)."""
    os.makedirs(os.path.join(d, "real"), exist_ok=True)
    if not os.path.islink(os.path.join(d, "link")):
        os.symlink("real", os.path.join(d, "link"))
    src = ""
    if mode == "own":
        with open(os.path.join(d, "link", "mine.json"), "wb") as f:
            f.write(PAYLOAD)
        fd = os.open(os.path.join(d, "real", "mine.json"), os.O_RDONLY)
    else:
        written = os.path.join(d, "link", "out.json") if mode == "symlink" else os.path.join(d, "out.json")
        p = subprocess.Popen([sys.executable, __file__, "writer", written, "0"])
        if p.wait(timeout=30):
            raise OSError(f"writer exited {p.returncode}")
        src = f" from {p.pid}"
        if mode == "symlink":
            fd = os.open(os.path.join(d, "real", "out.json"), os.O_RDONLY)
        else:
            dirfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            fd = os.open("out.json", os.O_RDONLY, dir_fd=dirfd)
            os.close(dirfd)
    data = os.read(fd, 4096)
    os.close(fd)
    return f"read {len(data)} fd {fd}{src}"


def helper(mode: str, path: str, fd: int) -> None:
    """Open (and for ``result``/``mmsg`` create and write) ``path``; send its fd on socket ``fd``."""
    sock = socket.socket(fileno=fd)
    if mode == "own":
        f = os.open(path, os.O_RDONLY)
    else:
        f = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(f, PAYLOAD)
    socket.send_fds(sock, [b"x"], [f])
    sock.recv(1)  # the agent has it: keep our copy open until then
    os.close(f)


IPC_PRIVATE, IPC_CREAT, IPC_RMID, SHM_RDONLY = 0, 0o1000, 0, 0o10000
_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p
_libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.shmdt.argtypes = [ctypes.c_void_p]
_libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]


def _shmat(shmid: int, flags: int) -> int:
    addr = _libc.shmat(shmid, None, flags)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "shmat")
    return int(addr)


def shmhelper(mode: str, shmid: int) -> None:
    """``write``: attach read-write and store a result; ``read``: attach SHM_RDONLY and read the task."""
    addr = _shmat(shmid, 0 if mode == "write" else SHM_RDONLY)
    if mode == "write":
        ctypes.memmove(addr, PAYLOAD, len(PAYLOAD))
    else:
        ctypes.string_at(addr, 16)
    _libc.shmdt(ctypes.c_void_p(addr))


def shm(mode: str) -> str:
    """The agent's segment, attached before the helper runs; read back from memory afterwards."""
    shmid = _libc.shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600)
    if shmid < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    try:
        addr = _shmat(shmid, 0)
        if mode == "task":
            ctypes.memmove(addr, b"task: summarise", 15)
        subprocess.run(
            [sys.executable, __file__, "shmhelper", "write" if mode == "loop" else "read", str(shmid)],
            check=True,
            timeout=30,
        )
        got = ctypes.string_at(addr, len(PAYLOAD))  # plain loads: no syscall
        _libc.shmdt(ctypes.c_void_p(addr))
    finally:
        _libc.shmctl(shmid, IPC_RMID, None)
    return f"shm {shmid} read {got[:15]!r}"


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.POINTER(_Iovec)),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


def recv_fd_mmsg(sock: socket.socket) -> int:
    """One fd received with recvmmsg(2) (Python's socket module has no recvmmsg)."""
    libc = _libc
    data = ctypes.create_string_buffer(16)
    ctrl = ctypes.create_string_buffer(64)
    iov = _Iovec(ctypes.cast(data, ctypes.c_void_p), 16)
    m = _Mmsghdr()
    m.hdr.iov = ctypes.pointer(iov)
    m.hdr.iovlen = 1
    m.hdr.control = ctypes.cast(ctrl, ctypes.c_void_p)
    m.hdr.controllen = 64
    n = libc.recvmmsg(sock.fileno(), ctypes.byref(m), 1, 0, None)
    if n != 1:
        raise OSError(ctypes.get_errno(), "recvmmsg")
    # struct cmsghdr: size_t len, int level, int type, then the fds
    return int.from_bytes(ctrl.raw[16:20], "little")


def handback(mode: str, d: str) -> str:
    """Start the helper on a socketpair, take the fd it passes, pread it."""
    path = os.path.join(d, "notes.txt" if mode == "own" else "result.json")
    if mode == "own":
        with open(path, "wb") as f:
            f.write(b"the agent's own notes\n")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    p = subprocess.Popen(
        [sys.executable, __file__, "helper", mode, path, str(theirs.fileno())], pass_fds=[theirs.fileno()]
    )
    theirs.close()
    if mode == "mmsg":
        fd = recv_fd_mmsg(ours)
    else:
        _, fds, _, _ = socket.recv_fds(ours, 16, 4)
        fd = fds[0]
    data = os.pread(fd, 4096, 0)
    ours.send(b"k")
    p.wait(timeout=30)
    os.close(fd)
    ours.close()
    return f"read {len(data)} fd {fd}"


def main() -> None:
    if sys.argv[1:2] == ["helper"]:
        helper(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    if sys.argv[1:2] == ["writer"]:
        writer(sys.argv[2], sys.argv[3] == "1", sys.argv[4:5] == ["1"])
        return
    if sys.argv[1:2] == ["shmhelper"]:
        shmhelper(sys.argv[2], int(sys.argv[3]))
        return
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "exit":
            print("bye", flush=True)
            return
        if cmd == "addr":
            print("ready", flush=True)
        elif cmd in ("own", "result", "mmsg"):
            print(handback(cmd, arg), flush=True)
        elif cmd in ("handle", "getfd", "tmpgetfd", "procfd", "tmpprocfd"):
            print(pulled(cmd, arg), flush=True)
        elif cmd == "respelled":
            mode, _, d = arg.partition(" ")
            print(respelled(mode, d), flush=True)
        elif cmd in ("shm_loop", "shm_task"):
            print(shm(cmd[4:]), flush=True)
        else:
            print(f"unknown command {cmd}", flush=True)


if __name__ == "__main__":
    main()
