"""Round 9: starve the agent through the scheduler: SCHED_IDLE, nice 19 and one CPU, set by another process.

Gap 2 (tampering without ptrace).  ``sched_setscheduler(pid, SCHED_IDLE)``,
``setpriority(PRIO_PROCESS, pid, 19)`` and ``sched_setaffinity(pid, {cpu0})``
on the agent's main thread: it now runs only when nothing else on its one
CPU wants to, so its tool calls and replies stall (a denial of service, or
a way to win a race against it).  The same class as the ``timerslack_ns`` and
``oom_score_adj`` knobs docs/detection.md certifies as PROCESS_LIMITS_CHANGED,
reached through three syscalls instead of a /proc file; gated by credentials
(CAP_SYS_NICE), never by the ptrace check.  Restored after 1 s.
A detection: L5 (PROCESS_LIMITS_CHANGED or any L5 code) naming this process.
"""

from __future__ import annotations

import os
import time
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 9
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    policy, param = os.sched_getscheduler(pid), os.sched_getparam(pid)
    nice, cpus = os.getpriority(os.PRIO_PROCESS, pid), os.sched_getaffinity(pid)
    t = rt.now()
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
        os.setpriority(os.PRIO_PROCESS, pid, 19)
        os.sched_setaffinity(pid, {min(cpus)})
        seen = (os.sched_getscheduler(pid), os.getpriority(os.PRIO_PROCESS, pid), os.sched_getaffinity(pid))
        time.sleep(1.0)
    finally:
        os.sched_setaffinity(pid, cpus)
        os.setpriority(os.PRIO_PROCESS, pid, nice)
        os.sched_setscheduler(pid, policy, param)
    back = (os.sched_getscheduler(pid), os.getpriority(os.PRIO_PROCESS, pid), os.sched_getaffinity(pid))
    ok = seen == (os.SCHED_IDLE, 19, {min(cpus)}) and back == (policy, nice, cpus)
    rt.report(
        t,
        ok,
        f"pid {pid}: policy/nice/cpus {policy}/{nice}/{len(cpus)} -> {seen[0]}/{seen[1]}/{sorted(seen[2])}"
        f" for 1 s, restored {back[0]}/{back[1]}/{len(back[2])}",
    )


if __name__ == "__main__":
    rt.main(run, globals())
