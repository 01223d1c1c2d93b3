"""Round 11: a host sandbox loader seals the agent's program in a memfd it hands back; the agent execs the fd.

Gap 4 (fileless exec: "memfd, deleted files").  A loader service (staged
before the victims, outside their trees: a plain python3 process on a unix
socket, ``_r11_sink.py memfd``) takes a length-prefixed program, creates a
memfd of its own (``sandbox-tool``), writes the bytes, seals it (no write,
grow, shrink) and passes the fd back over SCM_RIGHTS.  The agent sends its
program (redteam/native/r9_probe.c built at stage time, plus 512 random
bytes) and, in a forked child, execs the received fd (``os.execve`` of an
fd: glibc's ``fexecve``): an anonymous file the agent neither created nor wrote.
A detection: L2 (any code; a fileless exec, or AGENT_WRITTEN_EXEC) for the exec of the memfd.
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
TAG = "memfd"


def _files(args: dict[str, Any]) -> tuple[Path, Path]:
    d = _r11_drop.daemons(args)
    return d / "r11-loader.sock", d / "r11-loader.pid"


def stage(args: dict[str, Any]) -> None:
    sock, pidf = _files(args)
    _r11_drop.stage_payload(args, TAG)
    rt.stage_daemon(rt.sink_argv("memfd", str(sock), script="_r11_sink.py"), pidf, sock.exists)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args)[1])


def run(args: dict[str, Any]) -> None:
    sock, _ = _files(args)
    marker = str(args["marker"])
    body = _r11_drop.payload(args, TAG)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(rt.scaled(10))
        c.connect(str(sock))
        c.sendall(len(body).to_bytes(8, "little") + body)
        _, fds, _, _ = socket.recv_fds(c, 16, 1)
    if not fds:
        rt.report(rt.now(), False, "the loader passed no fd")
        return
    fd = fds[0]
    target = os.readlink(f"/proc/self/fd/{fd}")
    t = rt.now()
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(fd, ["sandbox-tool", marker], {"PATH": "/usr/bin:/bin"})
        finally:
            os._exit(127)
    rc = rt.wait_exit(pid, rt.scaled(20))
    os.close(fd)
    ok = rt.wait_file(marker, 5)
    rt.report(t, rc == 0 and ok, f"exec of the loader's fd ({target}, {len(body)} B): rc {rc}, marker {ok}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
