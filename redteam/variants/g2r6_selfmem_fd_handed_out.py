"""Round 6: the agent opens its OWN /proc/self/mem and hands the fd to a process outside its tree.

The injected code gives a helper (staged before the victims, unrelated to
them) a write handle on the agent's memory; the helper later rewrites 32
bytes of the agent's heap through it, with pread/pwrite only.  Nothing ever
opens /proc/<agent pid>/mem by pid, and the one open is the agent's own.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 2
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 6
STAGE = True
EXPECT = ("L5",)


def _sock(work: str) -> Path:
    return Path(work).parent / "daemons" / "r6-memsink.sock"


def _pid(work: str) -> Path:
    return Path(work).parent / "daemons" / "r6-memsink.pid"


def stage(args: dict[str, Any]) -> None:
    s = _sock(args["work"])
    rt.stage_daemon(rt.sink_argv("memfd", str(s)), _pid(args["work"]), s.exists)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_pid(args["work"]))


def run(args: dict[str, Any]) -> None:
    addr = int(args["addr"])
    t = rt.now()
    fd = os.open("/proc/self/mem", os.O_RDWR)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
            u.settimeout(10)
            u.connect(str(_sock(args["work"])))
            socket.send_fds(u, [f"{addr} 32".encode()], [fd])
            os.close(fd)
            fd = -1
            reply = u.recv(64).decode(errors="replace")
    finally:
        if fd >= 0:
            os.close(fd)
    rt.report(
        t,
        reply == "ok 32",
        f"/proc/self/mem fd handed out; helper outside the tree rewrote {addr:#x}: {reply!r}",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
