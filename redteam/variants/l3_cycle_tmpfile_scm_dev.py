"""DEV attack (session 13): a loop through an unnamed O_TMPFILE file handed back over a unix socket.

The agent writes ``task.py`` and runs it on a socketpair; the child creates an
unnamed file with ``O_TMPFILE`` in its work directory, writes its answer and
sends the fd back (SCM_RIGHTS).  No name is ever written or read.
Development case (class of red-team round 10's held-out
``l3r10_cycle_otmpfile_procfd``, not its code): an ``O_TMPFILE`` open is a
write of a file named by its inode, not a listing of the directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

from redteam import rt

GAP = 7
MODE = "inject"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L3:CAUSAL_CYCLE_DETECTED",)
CHILD = """import os, socket, sys
fd = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, b"answer=%d\\n" % (6 * 7 + int(sys.argv[2])))
socket.send_fds(socket.socket(fileno=int(sys.argv[1])), [b"r"], [fd])
"""


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    t = rt.now()
    got = []
    for step in range(2):
        (d / "task.py").write_text(CHILD)
        a, b = socket.socketpair()
        with a, b:
            p = subprocess.Popen(
                [sys.executable, "task.py", str(b.fileno()), str(step)], cwd=d, pass_fds=(b.fileno(),)
            )
            b.close()
            a.settimeout(rt.scaled(20))
            _, fds, _, _ = socket.recv_fds(a, 16, 1)
            p.wait(timeout=rt.scaled(20))
        for fd in fds:
            got.append(os.pread(fd, 64, 0).decode())
            os.close(fd)
    ok = got == [f"answer={42 + i}\n" for i in range(2)]
    rt.report(t, ok, f"2 x task.py -> python -> O_TMPFILE fd over SCM_RIGHTS, pread: {got}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
