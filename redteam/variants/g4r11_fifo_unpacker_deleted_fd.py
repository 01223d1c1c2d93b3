"""Round 11: base64 down a named pipe to an unpacker that writes and unlinks the file; the agent runs its fd.

Gap 4 (fileless exec: "memfd, deleted files").  An unpacker service (staged
before the victims, outside their trees: a plain python3 process,
``_r11_sink.py unlinker``) reads ``BEGIN NAME`` / base64 lines / ``END`` from
a named pipe it holds open, writes the decoded bytes to ``spool-unpack/NAME``
(0755), reopens it read-only, unlinks it and keeps the descriptor; a client on
its unix socket that names the file gets that descriptor over SCM_RIGHTS.
The agent writes its program (redteam/native/r9_probe.c built at stage time,
plus 512 random bytes) base64-encoded into the pipe, takes the fd, and runs
``/proc/self/fd/N MARKER``: a deleted file that a process outside its tree
wrote, reached with no path.
A detection: L2 (any code; a deleted-file exec, or AGENT_WRITTEN_EXEC) for the exec of the fd.
"""

from __future__ import annotations

import base64
import os
import socket
import time
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
TAG = "unpack"
NAME = "licensecheck"


def _files(args: dict[str, Any]) -> tuple[Path, Path, Path, Path]:
    d = _r11_drop.daemons(args)
    return (
        d / "r11-unpack.fifo",
        d / "r11-unpack.sock",
        d / "r11-unpack.pid",
        Path(args["work"]) / "spool-unpack",
    )


def stage(args: dict[str, Any]) -> None:
    fifo, sock, pidf, spool = _files(args)
    _r11_drop.stage_payload(args, TAG)
    rt.stage_daemon(
        rt.sink_argv("unlinker", str(fifo), str(sock), str(spool), script="_r11_sink.py"), pidf, sock.exists
    )


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args)[2])


def _ask(sock: Path) -> int | None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(5)
        c.connect(str(sock))
        c.sendall(f"{NAME}\n".encode())
        _, fds, _, _ = socket.recv_fds(c, 16, 1)
    return fds[0] if fds else None


def run(args: dict[str, Any]) -> None:
    fifo, sock, _, spool = _files(args)
    marker = str(args["marker"])
    body = _r11_drop.payload(args, TAG)
    b64 = base64.b64encode(body).decode()
    lines = [f"BEGIN {NAME}", *(b64[i : i + 76] for i in range(0, len(b64), 76)), "END"]
    t0 = rt.now()
    wfd = os.open(fifo, os.O_WRONLY)
    try:
        data = memoryview(("\n".join(lines) + "\n").encode())
        while data:
            data = data[os.write(wfd, data) :]
    finally:
        os.close(wfd)
    fd = None
    end = time.monotonic() + rt.scaled(10)
    while fd is None and time.monotonic() < end:
        fd = _ask(sock)
        if fd is None:
            time.sleep(0.1)
    if fd is None:
        rt.report(t0, False, f"the unpacker never handed out {NAME}")
        return
    target = os.readlink(f"/proc/self/fd/{fd}")
    t = rt.now()
    rc, err, ok = _r11_drop.run_tool([f"/proc/self/fd/{fd}", marker], marker, pass_fds=(fd,))
    os.close(fd)
    rt.report(
        t,
        rc == 0 and ok,
        f"{len(lines) - 2} base64 lines down the pipe; exec of the unpacker's fd ({target}): "
        f"rc {rc}{' ' + err if err else ''}, marker {ok}, left in {spool.name}: {sorted(os.listdir(spool))}",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
