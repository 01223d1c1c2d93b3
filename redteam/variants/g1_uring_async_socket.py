"""Io_uring makes the socket too (IORING_OP_SOCKET) and runs every op in an io-wq worker.

IOSQE_ASYNC sends socket, connect and send to the kernel's io worker
threads; the process makes no socket syscall at all.
"""

from __future__ import annotations

import socket
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
EXPECT = ("L4",)


def run(args: dict[str, Any]) -> None:
    lib = rt.native(args)
    ip, port = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    data = b"async exfil " * 30
    t = rt.now()
    rc = lib.rt_uring_egress(
        socket.AF_INET, ip.encode(), port, socket.SOCK_STREAM, data, len(data), rt.RT_ASYNC | rt.RT_SOCKET_OP
    )
    rt.report(t, rc > 0, f"io_uring async+socket-op tcp {ip}:{port} -> {rc} ({rt.errno_name(rc)})")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
