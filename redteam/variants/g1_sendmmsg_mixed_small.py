"""Sendmmsg: message 0 to the known model API, then just 2 datagrams to a new destination.

Too few messages for any rate to move: only the destination of messages 1
and 2 can give it away.
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
    kip, kport = rt.loopback(args["known"]["ip"]), int(args["known"]["port"])
    ip, port = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    t = rt.now()
    rc = lib.rt_sendmmsg_mixed(socket.AF_INET, kip.encode(), kport, ip.encode(), port, 3, 200)
    rt.report(t, rc == 3, f"sendmmsg 1 -> {kip}:{kport}, 2 -> {ip}:{port}: {rc} sent")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
