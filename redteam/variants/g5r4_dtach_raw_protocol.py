"""Round 4: push keystrokes into the dtach session by speaking dtach's socket protocol from Python (no dtach).

dtach's "push" is a 10-byte packet (type MSG_PUSH, length, 8 bytes) on its
unix socket: the agent connects and types `touch MARKER` into the shell.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import Any

from redteam import rt

GAP = 5
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L2",)
MSG_PUSH = 0


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    keys = f"touch '{marker}'\n".encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        t = rt.now()
        s.connect(args["daemons"]["dtach_sock"])
        for i in range(0, len(keys), 8):
            chunk = keys[i : i + 8]
            s.sendall(struct.pack("BB8s", MSG_PUSH, len(chunk), chunk))
        time.sleep(0.3)  # let the master copy the keys to the pty before we hang up
    ok = rt.wait_file(marker)
    rt.report(
        t,
        ok,
        f"{len(keys)} keys pushed over {args['daemons']['dtach_sock']}: marker {os.path.exists(marker)}",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
