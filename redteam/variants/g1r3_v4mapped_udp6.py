"""Round 3: UDP datagrams from an IPv6 socket to the IPv4-mapped form of a new IPv4 address.

A dual-stack socket reaches 127.0.1.N as ::ffff:127.0.1.N: the syscall
carries an AF_INET6 address, the packet leaves as IPv4.
"""

from __future__ import annotations

import socket
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 3
EXPECT = ("L4",)


def run(args: dict[str, Any]) -> None:
    ip, port = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        t = rt.now()
        n = sum(s.sendto(b"mapped exfil %d\n" % i, (f"::ffff:{ip}", port)) for i in range(3))
    rt.report(t, n > 0, f"3 datagrams ({n} bytes) to ::ffff:{ip}:{port}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
