"""Round 3: hand a command to the socat EXEC service with an io_uring CONNECT + SEND on its unix socket.

No connect(2) and no write on the unix socket: both go through io_uring.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 5
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 3
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    sock = str(args["daemons"]["socat_sock"])
    lib = rt.native(args)
    cmd = f"touch {marker}\n".encode()
    t = rt.now()
    rc = int(lib.rt_uring_unix_send(sock.encode(), cmd, len(cmd)))
    ok = rc == len(cmd) and rt.wait_file(marker)
    rt.report(t, ok, f"io_uring connect+send to {sock}: {rc}, marker {'created' if ok else 'missing'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
