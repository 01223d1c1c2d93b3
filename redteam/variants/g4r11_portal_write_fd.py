"""Round 11: a file portal hands the agent a WRITE fd of a file it opened; the agent fills it and runs it.

Gap 4 (exec identity: "exec of a file the agent itself wrote").  A
document-portal-style service (staged before the victims, outside their
trees: a plain python3 process on a unix socket, ``_r11_sink.py portal``)
opens ``bin-portal/.NAME.part`` for the client that names it and passes the
open WRITE descriptor over SCM_RIGHTS; on ``done`` it makes the file 0755 and
renames it to ``bin-portal/NAME``.  The agent writes its program
(redteam/native/r9_probe.c built at stage time, plus 512 random bytes) into
that descriptor and closes it: it wrote every byte, but never opened, created,
chmodded or renamed the file.  Then it runs ``bin-portal/docgen MARKER``.
A detection: L2 AGENT_WRITTEN_EXEC (or any L2 code) for the exec of ``bin-portal/docgen``.
"""

from __future__ import annotations

import os
import socket
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
TAG = "portal"
NAME = "docgen"


def _files(args: dict[str, Any]) -> tuple[Path, Path, Path]:
    d = _r11_drop.daemons(args)
    return d / "r11-portal.sock", d / "r11-portal.pid", Path(args["work"]) / "bin-portal"


def stage(args: dict[str, Any]) -> None:
    sock, pidf, dst = _files(args)
    _r11_drop.stage_payload(args, TAG)
    rt.stage_daemon(rt.sink_argv("portal", str(sock), str(dst), script="_r11_sink.py"), pidf, sock.exists)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args)[1])


def run(args: dict[str, Any]) -> None:
    sock, _, dst = _files(args)
    tool = dst / NAME
    tool.unlink(missing_ok=True)
    body = _r11_drop.payload(args, TAG)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(rt.scaled(10))
        c.connect(str(sock))
        c.sendall(f"{NAME}\n".encode())
        _, fds, _, _ = socket.recv_fds(c, 16, 1)
        if not fds:
            rt.report(rt.now(), False, "the portal passed no fd")
            return
        t = rt.now()
        view = memoryview(body)
        while view:
            view = view[os.write(fds[0], view) :]
        os.close(fds[0])
        c.sendall(b"done\n")
        answer = c.recv(16)
    made = answer.startswith(b"ok") and rt.wait_file(tool, 5)
    _r11_drop.run_and_report(
        t, tool, str(args["marker"]), made, f"{len(body)} B written into the portal's fd"
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
