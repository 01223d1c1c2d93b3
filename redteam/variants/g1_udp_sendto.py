"""Plain sendto on an unconnected UDP socket to a new loopback destination.

The classic beacon: no connect, the address rides on every datagram.
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
    ip, port = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        t = rt.now()
        n = sum(s.sendto(b"b" * 200, (ip, port)) for _ in range(20))
    rt.report(t, n == 4000, f"sendto udp {ip}:{port} x20: {n} bytes")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
