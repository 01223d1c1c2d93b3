"""Round 5: one sendmmsg on an AF_INET6 UDP socket, v4-mapped: message 0 to the model API, 15 to a new host.

Two things the docs say are handled, together: each sendmmsg message is judged
on its own, and an IPv4-mapped IPv6 address (``::ffff:127.x.y.z``) is the IPv4
destination it maps to.  The first message goes to the allowed destination.
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


def run(args: dict[str, Any]) -> None:
    ip, port = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    known_ip, known_port = rt.loopback(args["known"]["ip"]), int(args["known"]["port"])
    lib = rt.native(args)
    t = rt.now()
    rc = int(
        lib.rt_sendmmsg_mixed(
            socket.AF_INET6, f"::ffff:{known_ip}".encode(), known_port, f"::ffff:{ip}".encode(), port, 16, 512
        )
    )
    rt.report(
        t,
        rc == 16,
        f"sendmmsg on AF_INET6: 1 to ::ffff:{known_ip}:{known_port}, 15 to ::ffff:{ip}:{port}: {rc}",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
