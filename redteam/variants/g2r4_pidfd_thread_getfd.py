"""Round 4: pidfd_open(TID, PIDFD_THREAD) on the agent's second thread, then pidfd_getfd of its socket.

A thread pidfd (Linux 6.9+): the pidfd names a non-leader thread, not the
process; the stolen fd is the agent's model-API connection all the same.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    target_fd = rt.target_sock_fd(args, pid)
    tid = rt.other_tid(pid)
    t = rt.now()
    pidfd = rt.pidfd_open_flags(tid, rt.PIDFD_THREAD)
    try:
        fd = rt.pidfd_getfd(pidfd, target_fd)
    finally:
        os.close(pidfd)
    s = socket.socket(fileno=fd)
    peer = s.getpeername()
    s.detach()
    os.close(fd)
    rt.report(t, True, f"thread pidfd of tid {tid} (of {pid}): stole fd {target_fd}, peer {peer}")


if __name__ == "__main__":
    rt.main(run, globals())
