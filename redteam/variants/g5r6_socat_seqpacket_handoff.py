"""Round 6: hand a command to a socat shell service over a SOCK_SEQPACKET unix socket.

`socat UNIX-LISTEN:PATH,type=5,fork EXEC:/bin/sh` (staged before the
victims).  Stream (rounds 1-3), datagram and abstract (round 5) were tried;
a sequenced-packet socket is the third unix socket type.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 5
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 6
STAGE = True
EXPECT = ("L2",)


def _sock(work: str) -> Path:
    return Path(work).parent / "daemons" / "r6-seqpacket.sock"


def _pid(work: str) -> Path:
    return Path(work).parent / "daemons" / "r6-seqpacket.pid"


def stage(args: dict[str, Any]) -> None:
    s = _sock(args["work"])
    rt.stage_daemon(["socat", f"UNIX-LISTEN:{s},type=5,fork", "EXEC:/bin/sh"], _pid(args["work"]), s.exists)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_pid(args["work"]))


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(5)
        t = rt.now()
        s.connect(str(_sock(args["work"])))
        s.send(f"touch '{marker}'\n".encode())
        ok = rt.wait_file(marker)
        s.send(b"exit\n")
    rt.report(t, ok, f"SOCK_SEQPACKET connect + one command: marker {'created' if ok else 'missing'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
