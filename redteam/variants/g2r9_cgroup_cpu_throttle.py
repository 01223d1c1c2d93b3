"""Round 9: move the agent into a cgroup that caps it at 1 % of a CPU, then back.

Gap 2 (tampering without ptrace).  A root process outside the agent creates
a cgroup with ``cpu.cfs_quota_us = 1000`` per 100 ms period (v1; ``cpu.max
"1000 100000"`` on a v2 host), writes the agent's pid into its
``cgroup.procs`` -- every thread of the agent moves -- holds it there for 2 s
and moves it back.  The agent's resource limits change without prlimit, a
/proc/PID knob, or any syscall that names it: only a write of its pid into a
cgroupfs file.  What a container runtime's ``update`` does, and what an
attacker does to throttle a watched process (or to move it where its
memory limit will OOM-kill it).
A detection: L5 PROCESS_LIMITS_CHANGED (any L5 code) naming this process.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 9
EXPECT = ("L5",)


def throttle(pid: int, name: str, hold_s: float = 2.0) -> tuple[int, bool, str]:
    """Cap ``pid``'s CPU in a new cgroup ``name`` for ``hold_s`` and move it back: (act_ns, ok, detail)."""
    root = rt.cgroup_dir("cpu")
    if root is None:
        return rt.now(), False, "no cpu controller hierarchy to move the agent into"
    home = rt.cgroup_of(pid, root)
    cg = root / name
    cg.mkdir(exist_ok=True)
    try:
        if (cg / "cpu.cfs_quota_us").exists():
            (cg / "cpu.cfs_period_us").write_text("100000")
            (cg / "cpu.cfs_quota_us").write_text("1000")
        else:
            (cg / "cpu.max").write_text("1000 100000")
        t = rt.now()
        (cg / "cgroup.procs").write_text(str(pid))
        inside = str(pid) in (cg / "cgroup.procs").read_text().split()
        time.sleep(hold_s)
        (home / "cgroup.procs").write_text(str(pid))
        back = str(pid) not in (cg / "cgroup.procs").read_text().split()
    finally:
        with contextlib.suppress(OSError):
            for task in (cg / "cgroup.procs").read_text().split():
                (home / "cgroup.procs").write_text(task)
            cg.rmdir()
    return (
        t,
        inside and back,
        f"pid {pid} moved {home} -> {cg} (1 % CPU) for {hold_s:g} s and back: {inside}/{back}",
    )


def run(args: dict[str, Any]) -> None:
    t, ok, detail = throttle(int(args["pid"]), "h7rt9-throttle")
    rt.report(t, ok, detail)


if __name__ == "__main__":
    rt.main(run, globals())
