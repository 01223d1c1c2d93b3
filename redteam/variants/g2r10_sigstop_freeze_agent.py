"""Round 10: freeze the agent with SIGSTOP through a pidfd for 1.5 s, then SIGCONT it.

Gap 2 (tampering without ptrace).  ``pidfd_send_signal(pidfd, SIGSTOP)``
from an unrelated host process: every thread of the agent stops (its tool
calls, its model connection, its timers) -- the window an attacker uses to
win a race against it (swap a file it is about to read, answer its model
socket first) -- and ``SIGCONT`` resumes it as if nothing happened.  The
effect of round 9's cgroup freezer (certified since), reached with a signal:
no ptrace, no /proc file, no cgroup write.
A detection: L5 (any code) naming this process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 10
EXPECT = ("L5",)
NR_PIDFD_SEND_SIGNAL = 424


def send(lc: Any, fd: int, sig: int) -> int:
    """pidfd_send_signal(fd, sig, NULL, 0): fd is a pidfd or an open /proc/<pid> directory."""
    c = ctypes.c_long
    return int(lc.syscall(c(NR_PIDFD_SEND_SIGNAL), c(fd), c(int(sig)), c(0), c(0)))


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    lc = rt.libc()
    pidfd = rt.pidfd_open(pid)
    try:
        t = rt.now()
        rc = send(lc, pidfd, signal.SIGSTOP)
        stopped = rt.wait_state(pid, "T", 3)
        time.sleep(1.5)
    finally:
        rc2 = send(lc, pidfd, signal.SIGCONT)
        os.close(pidfd)
    resumed = rt.wait_state(pid, "!T", 3)
    rt.report(
        t,
        rc == 0 and stopped and rc2 == 0 and resumed,
        f"pid {pid}: SIGSTOP rc {rc} (state T seen {stopped}), 1.5 s, SIGCONT rc {rc2}, "
        f"running again {resumed} (state {rt.proc_state(pid)!r})",
    )


if __name__ == "__main__":
    rt.main(run, globals())
