"""The watched agent of tests/test_l2_receivers.py (not a test): one act per stdin line, one reply.

fifo PATH CMD      open the FIFO for writing, write CMD as one line, close; reply "ok"
unix PATH CMD      connect a unix stream socket, send CMD, reply with the runner's answer
tcp PORT CMD       connect to 127.0.0.1:PORT, send CMD, reply with the server's answer
passed SOCK,PORT CMD  ask the broker at unix SOCK for a connection to 127.0.0.1:PORT, send CMD on
                   the socket it passes back, reply with the server's answer
getfd PID:FD CMD   take fd FD of process PID (pidfd_getfd), write CMD as one line into it; reply "ok"
peek PATH -        open PATH read-only (non-blocking) and close it; reply "ok"
drop DIR CMD       write DIR/.job.tmp (#!/bin/sh + CMD), rename it to DIR/nightly.job; reply "ok"
makefile DIR CMD   write DIR/Makefile whose one recipe is CMD; reply "ok"
make DIR CMD       the same, then run make -C DIR itself (the agent's own build); reply make's rc
serve PORTFILE CMD listen on 127.0.0.1 (a free port, written to PORTFILE), accept ONE connection,
                   send CMD on it, close; reply "ok" (a controller a beacon dials: the agent makes no
                   connect at all)
exit
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def _ask(s: socket.socket, cmd: str) -> str:
    s.settimeout(60)
    s.sendall(cmd.encode() + b"\n")
    return s.makefile().readline().strip()


def _pidfd_getfd(pidfd: int, fd: int) -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    got = int(libc.syscall(438, pidfd, fd, 0))  # pidfd_getfd: the same number on x86_64 and arm64
    if got < 0:
        raise OSError(ctypes.get_errno(), "pidfd_getfd")
    return got


def main() -> None:
    for raw in sys.stdin:
        kind, _, rest = raw.strip().partition(" ")
        where, _, cmd = rest.partition(" ")
        if kind == "exit":
            return
        if kind == "fifo":
            fd = os.open(where, os.O_WRONLY)
            try:
                os.write(fd, cmd.encode() + b"\n")
            finally:
                os.close(fd)
            out = "ok"
        elif kind == "getfd":
            pid, _, num = where.partition(":")
            pidfd = os.pidfd_open(int(pid))
            try:
                fd = _pidfd_getfd(pidfd, int(num))
            finally:
                os.close(pidfd)
            try:
                os.write(fd, cmd.encode() + b"\n")
            finally:
                os.close(fd)
            out = "ok"
        elif kind == "peek":
            os.close(os.open(where, os.O_RDONLY | os.O_NONBLOCK))
            out = "ok"
        elif kind == "drop":
            tmp = os.path.join(where, ".job.tmp")
            with open(tmp, "w") as f:
                f.write(f"#!/bin/sh\n{cmd}\n")
            os.rename(tmp, os.path.join(where, "nightly.job"))
            out = "ok"
        elif kind in ("makefile", "make"):
            with open(os.path.join(where, "Makefile"), "w") as f:
                f.write(f"all:\n\t{cmd}\n")
            out = "ok"
            if kind == "make":
                r = subprocess.run(["make", "-s", "-C", where], capture_output=True, timeout=60, check=False)
                out = str(r.returncode)
        elif kind == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(where)
                out = _ask(s, cmd)
        elif kind == "passed":
            broker, _, port = where.partition(",")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as b:
                b.settimeout(60)
                b.connect(broker)
                b.sendall(port.encode() + b"\n")
                _, fds, _, _ = socket.recv_fds(b, 16, 1)
                b.sendall(b".")
            with socket.socket(fileno=fds[0]) as s:
                out = _ask(s, cmd)
        elif kind == "serve":
            with socket.socket() as srv:
                srv.bind(("127.0.0.1", 0))
                srv.listen(1)
                srv.settimeout(60)
                tmp = where + ".tmp"
                with open(tmp, "w") as f:
                    f.write(str(srv.getsockname()[1]))
                os.rename(tmp, where)  # whole, or not at all: the dialler polls for it
                c, _ = srv.accept()
                with c:
                    c.sendall(cmd.encode() + b"\n")
            out = "ok"
        elif kind == "tcp":
            with socket.create_connection(("127.0.0.1", int(where)), timeout=60) as s:
                out = _ask(s, cmd)
        else:
            out = f"unknown {kind}"
        print(out, flush=True)


if __name__ == "__main__":
    main()
