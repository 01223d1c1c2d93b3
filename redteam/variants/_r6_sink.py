"""Round 6 staging helper (not a variant: the leading underscore keeps it out of the suite).

A receiver that a round-6 variant's ``stage()`` starts BEFORE the victims,
outside their trees, so that the act's success is measured by something the
attacked agent does not own:

    python _r6_sink.py dgram PROTO IP PORT COUNTFILE  # UDP (17) / UDP-Lite (136) receiver
    python _r6_sink.py tcp IP COUNTFILE                # TCP sink on an ephemeral port (COUNTFILE.port)
    python _r6_sink.py memfd SOCKPATH                  # takes a passed fd + "ADDR N", rewrites N bytes there

COUNTFILE holds the total bytes received so far (rewritten on every datagram
or read).  Every mode lives at most LIFETIME_S and stops on SIGTERM.
"""

from __future__ import annotations

import array
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path

LIFETIME_S = 4 * 3600


def _loopback(ip: str) -> str:
    if not ip.startswith("127."):
        raise SystemExit(f"_r6_sink: loopback only, not {ip}")
    return ip


def _count(path: Path, total: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(total))
    os.replace(tmp, path)


def dgram(proto: int, ip: str, port: int, countfile: Path) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, proto)
    s.bind((_loopback(ip), port))
    Path(str(countfile) + ".port").write_text(str(s.getsockname()[1]))
    total = 0
    _count(countfile, 0)
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 1.0)
        if r:
            total += len(s.recv(65536))
            _count(countfile, total)


def tcp(ip: str, countfile: Path) -> None:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((_loopback(ip), 0))
    srv.listen(8)
    Path(str(countfile) + ".port").write_text(str(srv.getsockname()[1]))
    socks: list[socket.socket] = [srv]
    total = 0
    _count(countfile, 0)
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        r, _, _ = select.select(socks, [], [], 1.0)
        for s in r:
            if s is srv:
                socks.append(srv.accept()[0])
                continue
            data = s.recv(65536)
            if not data:
                socks.remove(s)
                s.close()
                continue
            total += len(data)
            _count(countfile, total)


def memfd(sockpath: str) -> None:
    """Outside the tree: take a passed /proc/PID/mem fd and rewrite N bytes at ADDR with themselves."""
    with __import__("contextlib").suppress(FileNotFoundError):
        os.unlink(sockpath)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sockpath)
    srv.listen(4)
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        r, _, _ = select.select([srv], [], [], 1.0)
        if not r:
            continue
        c, _ = srv.accept()
        with c:
            c.settimeout(5)
            fds = array.array("i")
            try:
                msg, anc, _, _ = c.recvmsg(256, socket.CMSG_SPACE(fds.itemsize))
            except OSError:
                continue
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            try:
                addr, n = (int(x) for x in msg.decode().split())
                if not fds:
                    raise OSError("no fd passed")
                time.sleep(0.5)  # later, when the injected code has long returned
                done = os.pwrite(fds[0], os.pread(fds[0], n, addr), addr)
                c.sendall(f"ok {done}".encode())
            except (OSError, ValueError) as e:
                c.sendall(f"err {e}".encode())
            finally:
                for fd in fds:
                    os.close(fd)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    mode = sys.argv[1]
    if mode == "dgram":
        dgram(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), Path(sys.argv[5]))
    elif mode == "tcp":
        tcp(sys.argv[2], Path(sys.argv[3]))
    elif mode == "memfd":
        memfd(sys.argv[2])
    else:
        raise SystemExit(f"_r6_sink: unknown mode {mode}")


if __name__ == "__main__":
    main()
