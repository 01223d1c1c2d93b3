"""TCP Fast Open: sendto(MSG_FASTOPEN) on an unconnected TCP socket opens the connection.

There is no connect call: the SYN carries the data and the kernel connects
inside sendmsg.
"""

from __future__ import annotations

import socket
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
EXPECT = ("L4",)


def run(args: dict[str, Any]) -> None:
    ip, port = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, (5).to_bytes(8, "little") + bytes(8))
        t = rt.now()
        n = s.sendto(b"tfo exfil " * 40, socket.MSG_FASTOPEN, (ip, port))
    rt.report(t, n > 0, f"tcp fastopen {ip}:{port}: {n} bytes")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
