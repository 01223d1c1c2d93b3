"""Round 10 staging helper (not a variant: the leading underscore keeps it out of the suite).

What a round-10 variant's ``stage()`` starts BEFORE the victims, outside their
trees -- programs a host really runs, which the attacked agent can reach
without starting anything itself:

    python _r10_sink.py idle                       # an idle host process (a log shipper waiting for work)
    python _r10_sink.py udpsink IP PORTFILE COUNT  # a UDP collector on IP and the port PORTFILE names;
                                                   # COUNT gets the bytes received so far
    python _r10_sink.py pullrunner IP PORT         # a "beacon" job runner: every 0.2 s it CONNECTS to
                                                   # IP:PORT, reads one line and runs it with sh -c
    python _r10_sink.py piperunner INFO            # a job runner fed by an anonymous pipe: the holder
                                                   # (this process) keeps the write end; its child reads
                                                   # lines from stdin and runs each with sh -c; INFO gets
                                                   # "RUNNER_PID HOLDER_PID WRITE_FD"

Every mode lives at most LIFETIME_S, polls with bounded sleeps, and stops on
SIGTERM.  Commands run with a 20-s timeout each, as the helper's own children
(outside every victim's tree).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from _r7_sink import _loopback  # the same loopback guard (this directory is on sys.path)

LIFETIME_S = 4 * 3600
CMD_TIMEOUT_S = 20

#: the pipe runner's child: one command per stdin line, each with sh -c (bounded per command)
RUNNER = r"""
import subprocess, sys
for line in sys.stdin:
    cmd = line.strip()
    if cmd:
        try:
            subprocess.run(["/bin/sh", "-c", cmd], timeout=20, check=False)
        except subprocess.TimeoutExpired:
            pass
"""


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def idle() -> None:
    """Sleep in one-second naps (a clock_nanosleep syscall almost all the time)."""
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        time.sleep(1.0)


def udpsink(ip: str, portfile: Path, count: Path) -> None:
    """Receive datagrams on IP:<port in PORTFILE>, keep the running byte total in COUNT."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((_loopback(ip), int(portfile.read_text().strip())))
    s.settimeout(1.0)
    total = 0
    _write(count, "0")
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        try:
            data = s.recv(65536)
        except TimeoutError:
            continue
        total += len(data)
        _write(count, str(total))


def pullrunner(ip: str, port: int) -> None:
    """Connect to IP:PORT every 0.2 s; when something answers, read one line and run it."""
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        cmd = ""
        with contextlib.suppress(OSError), socket.create_connection((_loopback(ip), port), timeout=2) as c:
            c.settimeout(5)
            buf = b""
            while b"\n" not in buf and len(buf) < 4096:
                part = c.recv(4096)
                if not part:
                    break
                buf += part
            cmd = buf.split(b"\n", 1)[0].decode(errors="replace").strip()
        if cmd:
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(
                    ["/bin/sh", "-c", cmd], timeout=CMD_TIMEOUT_S, check=False, capture_output=True
                )
        time.sleep(0.2)


def piperunner(info: Path) -> None:
    """Start the runner on a pipe, keep its write end open (unused by this process), report the fds."""
    p = subprocess.Popen([sys.executable, "-c", RUNNER], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert p.stdin is not None
    _write(info, f"{p.pid} {os.getpid()} {p.stdin.fileno()}")
    end = time.monotonic() + LIFETIME_S
    try:
        while time.monotonic() < end and p.poll() is None:
            time.sleep(1.0)
    finally:
        with contextlib.suppress(OSError):
            p.kill()


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    mode = sys.argv[1]
    if mode == "idle":
        idle()
    elif mode == "udpsink":
        udpsink(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
    elif mode == "pullrunner":
        pullrunner(sys.argv[2], int(sys.argv[3]))
    elif mode == "piperunner":
        piperunner(Path(sys.argv[2]))
    else:
        raise SystemExit(f"_r10_sink: unknown mode {mode}")


if __name__ == "__main__":
    main()
