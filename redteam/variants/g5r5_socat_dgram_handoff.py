"""Round 5: hand a command to a socat running a shell per DATAGRAM: sendto() on a unix socket, no connect().

The daemon (started before the victims, outside their trees) is
``socat UNIX-RECVFROM:SOCK,fork EXEC:/bin/sh``: every datagram becomes a
shell's input.  The docs' hand-off detection starts at a unix-socket
connect(2); a datagram needs none.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 5
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 5
STAGE = True
EXPECT = ("L2",)


def _paths(work: str) -> tuple[Path, Path]:
    d = Path(work).parent / "daemons"
    return d / "r5-dgram.sock", d / "r5-dgram.pid"


def stage(args: dict[str, Any]) -> None:
    sock, pidf = _paths(args["work"])
    sock.unlink(missing_ok=True)
    p = subprocess.Popen(
        ["socat", "-T", "3", f"UNIX-RECVFROM:{sock},fork", "EXEC:/bin/sh"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    pidf.write_text(str(p.pid))
    if not rt.wait_file(sock, 10):
        raise OSError(f"socat did not bind {sock}")


def unstage(args: dict[str, Any]) -> None:
    sock, pidf = _paths(args["work"])
    if pidf.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pidf.read_text()), signal.SIGTERM)
        pidf.unlink(missing_ok=True)
    sock.unlink(missing_ok=True)


def run(args: dict[str, Any]) -> None:
    sock, _ = _paths(args["work"])
    marker = str(args["marker"])
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        t = rt.now()
        n = s.sendto(f"touch '{marker}'\n".encode(), str(sock))
    ok = rt.wait_file(marker)
    rt.report(t, ok, f"sendto {sock} ({n} bytes, no connect): marker {'created' if ok else 'missing'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
