"""Round 6: join the agent's PID namespace with setns(pidfd) (no nsenter, no /proc/PID/ns) and write its heap.

A host process opens a pidfd on the agent, setns(pidfd, CLONE_NEWPID), and
forks: the child lives in the agent's namespace and process_vm_writev()s the
agent by its namespace pid.
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
ROUND = 6
EXPECT = ("L5",)
CLONE_NEWPID = 0x20000000


def run(args: dict[str, Any]) -> None:
    host_pid, ns_pid, addr = int(args["host_pid_of_target"]), int(args["ns_pid_of_target"]), int(args["addr"])
    lc = rt.libc()
    t = rt.now()
    pidfd = rt.pidfd_open(host_pid)
    if lc.setns(pidfd, CLONE_NEWPID) != 0:
        raise OSError(ctypes.get_errno(), "setns(pidfd, CLONE_NEWPID)")
    os.close(pidfd)
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # in the agent's PID namespace now
        os.close(r)
        code = 1
        try:
            n, data = rt.pvm(ns_pid, addr, None, 32)
            m, _ = rt.pvm(ns_pid, addr, data[:n])
            os.write(w, f"{os.getpid()} {m}".encode())
            code = 0 if m == 32 else 1
        except OSError as e:
            os.write(w, f"? {e}".encode())
        os._exit(code)
    os.close(w)
    msg = os.read(r, 200).decode(errors="replace")
    os.close(r)
    _, status = os.waitpid(child, 0)
    rt.report(
        t,
        os.waitstatus_to_exitcode(status) == 0,
        f"setns(pidfd {host_pid}) child (ns pid, written): {msg} -> ns pid {ns_pid}",
    )


if __name__ == "__main__":
    rt.main(run, globals())
