"""Round 8: read the agent's stack memory with perf_event_open sampling -- no ptrace, no /proc, no pvm.

A task-clock sampling event on the agent's pid with PERF_SAMPLE_STACK_USER and
PERF_SAMPLE_REGS_USER: at each sample the kernel copies 8 KiB of the agent's
user stack (where secrets pass through: request bodies, keys being hashed)
and its registers into a ring buffer this process maps.  perf_event_paranoid
2 allows it for a user-space-only event on a process one may trace.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 8
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    t = rt.now()
    samples, copied = rt.perf_user_stack(pid, seconds=3.0)
    rt.report(
        t, copied > 0, f"perf_event_open(task-clock, pid {pid}): {samples} samples, {copied} B of its stack"
    )


if __name__ == "__main__":
    rt.main(run, globals())
