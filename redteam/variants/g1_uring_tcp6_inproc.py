"""Io_uring CONNECT+SEND over TCP to [::1] from native code in the agent.

The IPv6 path of the same evasion: a new port on ::1, never used by the
agent, reached only through io_uring.
"""

from __future__ import annotations

import socket
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L4",)


def run(args: dict[str, Any]) -> None:
    lib = rt.native(args)
    ip, port = rt.loopback(args["dest"]["ip6"]), int(args["dest"]["port6"])
    data = b"exfil6 " * 40
    t = rt.now()
    rc = lib.rt_uring_egress(socket.AF_INET6, ip.encode(), port, socket.SOCK_STREAM, data, len(data), 0)
    rt.report(t, rc > 0, f"io_uring tcp [{ip}]:{port} -> {rc} ({rt.errno_name(rc)})")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
