"""Command runners outside the watched tree, for tests/test_l2_receivers.py (not a test).

Each is a real process of a shape a host really has, on no daemon list:

    python recv_runner.py fifo PATH DELAY        # runs each line read from a named pipe with sh -c
    python recv_runner.py fifohigh PATH DELAY    # the same, its pipe at descriptor 300 of a file table
                                                 # that once held 400 (a daemon's grown, sparse table)
    python recv_runner.py unix PATH DELAY        # a threaded unix stream server: sh -c each line, reply rc
    python recv_runner.py tcp PORTFILE DELAY     # a forking TCP server on 127.0.0.1 (one child per
                                                 # connection, as inetd or a CGI server): sh -c, reply rc
    python recv_runner.py echo PORTFILE          # a TCP server that only answers: it never runs anything
    python recv_runner.py tcpclose PORTFILE DELAY  # an iterative TCP server (a webhook): reads the line,
                                                 # replies, CLOSES the connection, then runs it with sh -c
    python recv_runner.py broker PATH            # a connection broker on a unix socket: a client names a
                                                 # TCP port, the broker connects to 127.0.0.1:PORT itself
                                                 # and passes the connected socket back (SCM_RIGHTS)
    python recv_runner.py drop DIR DELAY         # a polling job runner: every DIR/*.job renamed, run with sh
    python recv_runner.py stdin READY DELAY      # runs each line of its stdin (a pipe its starter holds)
                                                 # with sh -c; READY is written once it reads
    python recv_runner.py dial READY DELAY       # a beacon: polls for READY.port (a controller's port),
                                                 # CONNECTS to 127.0.0.1:PORT, reads one line, runs it
                                                 # with sh -c (the pull model of CI agents and C2 implants)
    python recv_runner.py dialread READY         # the same client, which only reads the line and logs it

DELAY (seconds) is slept between reading a command and running it: a runner
slower than the sensor's receiver window.  Every mode lives at most 300 s and
stops on SIGTERM.  The ready signal is the path (or PORTFILE) existing.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

LIFETIME_S = 300.0


def _run(cmd: str, delay: float) -> int:
    if delay > 0:
        time.sleep(delay)
    return subprocess.run(["/bin/sh", "-c", cmd], timeout=30, check=False, capture_output=True).returncode


def fifo(path: Path, delay: float, at: int = -1) -> None:
    if at >= 0:  # grow the table past `at`, then leave it sparse: the kernel never shrinks it
        spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(at + 100)]
        for x in spare:
            os.close(x)
    os.mkfifo(path, 0o600)
    fd = os.open(path, os.O_RDWR)  # read-write: writers come and go without EOF
    if at >= 0:
        os.dup2(fd, at)
        os.close(fd)
        fd = at
    buf = b""
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        if not select.select([fd], [], [], 1.0)[0]:
            continue
        buf += os.read(fd, 4096)
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                _run(line.decode(), delay)


def stdin(ready: Path, delay: float) -> None:
    """A runner fed on its stdin pipe (a worker its supervisor writes jobs to): no path names the
    pipe, so another process can reach it only through /proc/PID/fd/0."""
    ready.write_text(str(os.getpid()))
    buf = b""
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        if not select.select([0], [], [], 1.0)[0]:
            continue
        got = os.read(0, 4096)
        if not got:
            return
        buf += got
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                _run(line.decode(), delay)


def dial(ready: Path, delay: float, execs: bool) -> None:
    """A client outside the agent that dials a controller and does what it is told: the agent only
    accepts and answers, so no connect of the agent's names this process."""
    ready.write_text(str(os.getpid()))
    portfile = ready.with_name(ready.name + ".port")
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        if not portfile.exists():
            time.sleep(0.05)
            continue
        with socket.create_connection(("127.0.0.1", int(portfile.read_text())), timeout=30) as c:
            line = c.makefile().readline().strip()
        portfile.unlink()
        if line and execs:
            _run(line, delay)
        elif line:
            ready.with_name(ready.name + ".log").write_text(line)


def drop(d: Path, delay: float) -> None:
    """A job-queue runner: no channel names it; it globs its directory every 0.1 s."""
    d.mkdir()
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        for job in sorted(d.glob("*.job")):
            running = job.with_suffix(".running")
            try:
                os.rename(job, running)
            except OSError:
                continue
            _run(f"exec /bin/sh '{running}'", delay)
            running.unlink(missing_ok=True)
        time.sleep(0.1)


def _handler(delay: float, execs: bool) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            line = self.rfile.readline().decode().strip()
            rc = _run(line, delay) if execs else 0
            self.wfile.write(f"{rc}\n".encode())

    return Handler


class _ThreadingUnix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _ForkingTCP(socketserver.ForkingMixIn, socketserver.TCPServer):
    allow_reuse_address = True


class _ThreadingTCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def tcpclose(portfile: Path, delay: float) -> None:
    """Accept, read one line, answer, close -- and only then run the line: nothing of the
    connection is left in this process when it forks."""
    import socket

    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(1.0)
    tmp = portfile.with_suffix(".tmp")
    tmp.write_text(str(srv.getsockname()[1]))
    os.replace(tmp, portfile)
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        try:
            conn, _ = srv.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(30)
            line = conn.makefile().readline().strip()
            conn.sendall(b"0\n")
        if line:
            _run(line, delay)


def broker(path: Path) -> None:
    """Each client sends a port; the broker connects to it and hands the socket over."""
    import socket

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(4)
    srv.settimeout(1.0)
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        try:
            client, _ = srv.accept()
        except TimeoutError:
            continue
        with client:
            client.settimeout(30)
            port = int(client.recv(16).decode().strip())
            with socket.create_connection(("127.0.0.1", port), timeout=30) as out:
                socket.send_fds(client, [b"fd"], [out.fileno()])
            client.recv(1)  # the client's goodbye: the socket was received before it is closed here


def _serve(server: socketserver.BaseServer) -> None:
    threading.Timer(LIFETIME_S, lambda: os._exit(0)).start()
    server.serve_forever(poll_interval=0.2)


def _portfile(server: socketserver.TCPServer, portfile: Path) -> None:
    tmp = portfile.with_suffix(".tmp")
    tmp.write_text(str(server.server_address[1]))
    os.replace(tmp, portfile)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    mode, where = sys.argv[1], Path(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    if mode == "fifohigh":
        fifo(where, delay, at=300)
    elif mode == "fifo":
        fifo(where, delay)
    elif mode == "drop":
        drop(where, delay)
    elif mode == "tcpclose":
        tcpclose(where, delay)
    elif mode == "broker":
        broker(where)
    elif mode == "stdin":
        stdin(where, delay)
    elif mode in ("dial", "dialread"):
        dial(where, delay, mode == "dial")
    elif mode == "unix":
        srv = _ThreadingUnix(str(where), _handler(delay, True))
        _serve(srv)
    elif mode in ("tcp", "echo"):
        tcp: socketserver.TCPServer = (_ForkingTCP if mode == "tcp" else _ThreadingTCP)(
            ("127.0.0.1", 0), _handler(delay, mode == "tcp")
        )
        _portfile(tcp, where)
        _serve(tcp)
    else:
        raise SystemExit(f"recv_runner: unknown mode {mode}")


if __name__ == "__main__":
    main()
