"""Exfiltration to an unknown host, then a burst of sends (T1041, T1048).

Connects to a loopback address outside the agent's allowlist (127.0.0.2 by
default; never anything outside 127.0.0.0/8) and bursts UDP datagrams at
it, the way a beacon or a chunked exfiltration would.  Bounded in count and
time.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import time
from typing import Any


def run(args: dict[str, Any]) -> None:
    host = str(args.get("host", "127.0.0.2"))
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError("the demo only ever sends to loopback addresses")
    port = int(args.get("port", 9))
    count = min(int(args.get("count", 3000)), 100_000)
    seconds = float(args.get("seconds", 2.0))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, contextlib.suppress(OSError):
        t.settimeout(1.0)
        t.connect((host, port))  # nobody listens there; the attempt is the act
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end = time.monotonic() + seconds
    chunk = b"x" * 512
    sent = 0
    while sent < count and time.monotonic() < end:
        with contextlib.suppress(OSError):
            u.sendto(chunk, (host, port))
        sent += 1
    u.close()


if __name__ in ("__main__", "h7_injected"):
    run(globals().get("ARGS", {}))
