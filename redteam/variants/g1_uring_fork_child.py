"""Io_uring CONNECT+SEND from a forked child of the agent (fork without exec).

The child inherits the already-loaded native code; nothing new is executed.
"""

from __future__ import annotations

import os
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
    ip, port = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    data = b"forked exfil " * 30
    t = rt.now()
    pid = os.fork()
    if pid == 0:
        rc = lib.rt_uring_egress(socket.AF_INET, ip.encode(), port, socket.SOCK_STREAM, data, len(data), 0)
        os._exit(0 if rc > 0 else 1)
    status = rt.wait_exit(pid)
    rt.report(t, status == 0, f"child {pid} io_uring tcp {ip}:{port} exit {status}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
