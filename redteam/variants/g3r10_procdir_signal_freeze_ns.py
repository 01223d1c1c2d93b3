"""Round 10: in the container, SIGSTOP/SIGCONT of the agent through its /proc/2 DIRECTORY fd.

Gap 3 (PID namespaces).  ``pidfd_send_signal`` also takes an open
``/proc/<pid>`` directory as its "pidfd" (Linux 5.1+).  From inside the
agent's PID namespace the attacker opens ``/proc/2`` (the agent is pid 2
there), sends SIGSTOP through that fd, holds the agent frozen for 1.5 s and
SIGCONTs it through the same fd.  The only pid is in a path, resolved by the
container's own procfs; the signal syscall names an fd.
A detection: L5 (any code) naming this process.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from redteam import rt
from redteam.variants.g2r10_sigstop_freeze_agent import send

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = True
ROUND = 10
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    lc = rt.libc()
    dfd = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY)
    try:
        t = rt.now()
        rc = send(lc, dfd, signal.SIGSTOP)
        stopped = rt.wait_state(pid, "T", 3)
        time.sleep(1.5)
    finally:
        rc2 = send(lc, dfd, signal.SIGCONT)
        os.close(dfd)
    resumed = rt.wait_state(pid, "!T", 3)
    rt.report(
        t,
        rc == 0 and stopped and rc2 == 0 and resumed,
        f"ns pid {pid} via /proc/{pid} dirfd: SIGSTOP rc {rc} (T seen {stopped}), 1.5 s, "
        f"SIGCONT rc {rc2}, running again {resumed} (state {rt.proc_state(pid)!r})",
    )


if __name__ == "__main__":
    rt.main(run, globals())
