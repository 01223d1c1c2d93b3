"""Io_uring CONNECT+SEND over UDP from native code loaded into the agent.

Same as the TCP case but a datagram socket: the connect sets the peer, the
IORING_OP_SEND carries the data.
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
    data = b"beacon " * 20
    t = rt.now()
    rc = lib.rt_uring_egress(socket.AF_INET, ip.encode(), port, socket.SOCK_DGRAM, data, len(data), 0)
    rt.report(t, rc > 0, f"io_uring udp {ip}:{port} -> {rc} ({rt.errno_name(rc)})")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
