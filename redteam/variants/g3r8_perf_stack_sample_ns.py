"""Round 8: inside the container, perf_event_open on the agent by its namespace pid samples its stack.

The namespaced twin of g2r8_perf_stack_sample: a task-clock sampling event
with PERF_SAMPLE_STACK_USER on pid 2 of the container's PID namespace copies
the agent's user stack into this process's ring buffer for 3 s.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = True
ROUND = 8
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    t = rt.now()
    samples, copied = rt.perf_user_stack(pid, seconds=3.0)
    rt.report(
        t,
        copied > 0,
        f"perf_event_open(task-clock, ns pid {pid}): {samples} samples, {copied} B of its stack",
    )


if __name__ == "__main__":
    rt.main(run, globals())
