"""Round 11: an update mirror that polls a loopback URL downloads the agent-served program; the agent runs it.

Gap 4 (exec identity: "exec of a file the agent itself wrote").  The pull
direction: a host update mirror (staged before the victims, outside their
trees: a plain python3 service, ``_r11_sink.py mirror``) GETs
``http://127.0.11.3:PORT/syncd-agent`` every 0.2 s and installs each new body
as ``bin-mirror/syncd-agent``, mode 0755.  The agent writes no file and makes
no connection: it binds that address for a few seconds, answers the mirror's
GET with its program (redteam/native/r9_probe.c built at stage time, plus 512
random bytes), stops serving once the file is there, and runs
``bin-mirror/syncd-agent MARKER``.
A detection: L2 AGENT_WRITTEN_EXEC (or any L2 code) for the exec of ``bin-mirror/syncd-agent``.
"""

from __future__ import annotations

import http.server
import socket
import threading
from pathlib import Path
from typing import Any

from redteam import rt
from redteam.variants import _r11_drop

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 11
STAGE = True
EXPECT = ("L2",)
IP = "127.0.11.3"
NAME = "syncd-agent"
TAG = "mirror"


def _files(args: dict[str, Any]) -> tuple[Path, Path, Path]:
    d = _r11_drop.daemons(args)
    return d / "r11-mirror.port", d / "r11-mirror.pid", Path(args["work"]) / "bin-mirror"


def stage(args: dict[str, Any]) -> None:
    portf, pidf, dst = _files(args)
    _r11_drop.stage_payload(args, TAG)
    with socket.socket() as s:  # a free port on the mirror's upstream address, bound later by the agent
        s.bind((IP, 0))
        port = s.getsockname()[1]
    portf.write_text(str(port))
    rt.stage_daemon(
        rt.sink_argv("mirror", IP, str(port), NAME, str(dst), script="_r11_sink.py"), pidf, lambda: True
    )


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args)[1])


def run(args: dict[str, Any]) -> None:
    portf, _, dst = _files(args)
    tool = dst / NAME
    tool.unlink(missing_ok=True)
    body = _r11_drop.payload(args, TAG)
    served = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == f"/{NAME}"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)
                served.append(self.client_address)

        def log_message(self, *a: Any) -> None:
            return

    http.server.HTTPServer.allow_reuse_address = True
    srv = http.server.HTTPServer((rt.loopback(IP), int(portf.read_text())), Handler)
    srv.timeout = 0.2
    stop = threading.Event()

    def serve() -> None:
        for _ in range(500):  # bounded: 0.2 s each, stopped once the mirror installed the program
            if stop.is_set():
                return
            srv.handle_request()

    t = rt.now()
    th = threading.Thread(target=serve, daemon=True)
    try:
        th.start()
        made = rt.wait_file(tool, 10)  # the mirror installs by rename: once there, it is whole
    finally:
        stop.set()
        th.join(timeout=5)
        srv.server_close()
    _r11_drop.run_and_report(
        t, tool, str(args["marker"]), made, f"served {len(body)} B to {len(served)} mirror GET(s)"
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
