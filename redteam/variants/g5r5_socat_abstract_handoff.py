"""Round 5: hand a command to a socat shell listener bound to an ABSTRACT unix socket (no path at all).

``socat ABSTRACT-LISTEN:NAME,fork EXEC:/bin/sh`` started before the victims,
outside their trees.  No socket file exists to match a path glob; the claim
is that the listener's comm (socat) is enough.  The agent connects from its
own code (no client program).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import time
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


def _name(work: str) -> str:
    return "h7rt5-" + hashlib.sha1(str(Path(work).parent).encode()).hexdigest()[:10]


def _pidfile(work: str) -> Path:
    return Path(work).parent / "daemons" / "r5-abstract.pid"


def _listening(name: str) -> bool:
    with open("/proc/net/unix") as f:
        return any(line.rstrip().endswith("@" + name) for line in f)


def stage(args: dict[str, Any]) -> None:
    name = _name(args["work"])
    p = subprocess.Popen(
        ["socat", f"ABSTRACT-LISTEN:{name},fork", "EXEC:/bin/sh"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _pidfile(args["work"]).write_text(str(p.pid))
    end = time.monotonic() + 10
    while time.monotonic() < end and not _listening(name):
        time.sleep(0.05)
    if not _listening(name):
        raise OSError(f"socat did not listen on @{name}")


def unstage(args: dict[str, Any]) -> None:
    pidf = _pidfile(args["work"])
    if pidf.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pidf.read_text()), signal.SIGTERM)
        pidf.unlink(missing_ok=True)


def run(args: dict[str, Any]) -> None:
    name = _name(args["work"])
    marker = str(args["marker"])
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        t = rt.now()
        s.connect("\0" + name)
        s.sendall(f"touch '{marker}'\n".encode())
        s.shutdown(socket.SHUT_WR)
        ok = rt.wait_file(marker)
    rt.report(t, ok, f"connect to @{name} (abstract), one command: marker {'created' if ok else 'missing'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
