"""UDP connect then write(2) on the socket: data leaves with no send-family syscall.

The connect sets the peer; the datagrams go out through write, which no
send hook that watches sendto/sendmsg sees.
"""

from __future__ import annotations

import os
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
        s.connect((ip, port))
        n = sum(os.write(s.fileno(), b"w" * 300) for _ in range(10))
    rt.report(t, n == 3000, f"udp connect+write {ip}:{port}: {n} bytes")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
