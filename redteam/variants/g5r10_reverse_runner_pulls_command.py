"""Round 10: a beacon-style runner CONNECTS to the agent and pulls its command; the agent only answers.

Gap 5 (leaving through a daemon).  A host job runner (staged before the
victims, outside their trees; plain python3, on no daemon list) polls
``127.0.10.1:PORT`` every 0.2 s -- the pull model of CI agents and C2
beacons: the runner dials out, the controller answers with work.  The agent
binds that address, accepts the runner's connection, writes
``touch MARKER`` and closes; the runner runs it with ``sh -c``.  The agent
makes no connect at all: every hand-off mark keyed on the agent's connect
(or on a listener's child the agent connected to) is the wrong way round.
A detection: L2 DAEMON_HANDOFF (a receiver-exec of the runner's ``sh``) for
the attacked agent.
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
ROUND = 10
STAGE = True
EXPECT = ("L2",)
IP = "127.0.10.1"


def _files(work: str) -> tuple[Path, Path]:
    d = Path(work).parent / "daemons"
    return d / "r10-pull.port", d / "r10-pull.pid"


def stage(args: dict[str, Any]) -> None:
    portf, pidf = _files(args["work"])
    with socket.socket() as s:  # a free port on the runner's address, released for the agent to bind later
        s.bind((IP, 0))
        port = s.getsockname()[1]
    portf.write_text(str(port))
    rt.stage_daemon(rt.sink_argv("pullrunner", IP, str(port), script="_r10_sink.py"), pidf, lambda: True)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args["work"])[1])


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    port = int(_files(args["work"])[0].read_text())
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((rt.loopback(IP), port))
    srv.listen(1)
    srv.settimeout(rt.scaled(5))
    try:
        c, peer = srv.accept()
        t = rt.now()
        with c:
            c.sendall(f"touch '{marker}'\n".encode())
    finally:
        srv.close()
    ok = rt.wait_file(marker)
    rt.report(
        t,
        ok,
        f"runner {peer[0]}:{peer[1]} connected to {IP}:{port}, got the job; "
        f"marker {'created' if ok else 'missing'}",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
