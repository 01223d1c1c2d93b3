"""Round 4: dash written into an O_TMPFILE (an unnamed file on a real filesystem), exec'd via /proc/self/fd.

Not a memfd and never deleted: the file never had a name at all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    d = Path(args["scratch"])
    d.mkdir(parents=True, exist_ok=True)
    wfd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o700)
    os.write(wfd, Path("/bin/dash").read_bytes())
    rfd = os.open(f"/proc/self/fd/{wfd}", os.O_RDONLY)  # exec needs no writer left (ETXTBSY)
    os.close(wfd)
    try:
        t = rt.now()
        rc = rt.run_child([f"/proc/self/fd/{rfd}", "-c", "exit 6"], pass_fds=(rfd,))
    finally:
        os.close(rfd)
    rt.report(t, rc == 6, f"O_TMPFILE copy of dash in {d}, exec via fd: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
