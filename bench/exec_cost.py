"""What exec identity and hand-off following cost, per exec, per fork, per close.

Exec identity is decided in the kernel (bpf/h7.bpf.c, h7_exec): at every
monitored exec the program reads the executed file's inode, flags and first
128 bytes and looks it up in ``written_files``.  That is paid per exec of a
monitored process only; unmonitored processes still leave at the scope
prefilter.  Hand-off following adds one array load to every fork whose
parent is not monitored (the ``follow_until`` slot), and ``close(2)`` of a
monitored process now resolves its fd.

Measured with kernel.bpf_stats_enabled (run time and count per program,
from the kernel itself), while a Python process spawns /bin/true N times:

* ``exec_bpf_ns_monitored``: mean ns of the sched_process_exec program per
  run when the spawner is a monitored agent (the identity work included);
* ``exec_bpf_ns_unmonitored``: the same program for a process H7 does not
  watch (scope prefilter only);
* ``fork_bpf_ns_unmonitored``: the fork program for an unmonitored parent
  (prefilter + the follow_until slot), with no hand-off live;
* ``exec_wall_us_*``: wall-clock µs per spawn+wait, for scale (the BPF
  share is three orders of magnitude below a spawn).

The unmonitored per-syscall cost is bench/syscall_cost.py's
``syscall_ns_added_unmonitored``: the identity and hand-off code sits behind
the same scope check and does not run for unmonitored syscalls.
"""

from __future__ import annotations

import os
import sys
import time

from bench.harness import BenchError, DrainingSensor, LineProcess, bpf_prog_stats, bpf_stats_enabled, median

SPAWNER = r"""
import os, sys, time
true = sys.argv[1]
for line in sys.stdin:
    n = int(line)
    t0 = time.perf_counter_ns()
    for _ in range(n):
        pid = os.posix_spawn(true, [true], {})
        os.waitpid(pid, 0)
    print((time.perf_counter_ns() - t0) / n / 1000, flush=True)
"""


class Spawner(LineProcess):
    """A Python process that spawns /bin/true n times per request and answers µs per spawn+wait."""

    def __init__(self) -> None:
        true = "/bin/true" if os.path.exists("/bin/true") else "/usr/bin/true"
        super().__init__([sys.executable, "-c", SPAWNER, true], "spawner")

    def us(self, n: int) -> float:
        return self.ask(str(n))


def _delta(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], prog: str) -> float:
    t0, c0 = before.get(prog, (0, 0))
    t1, c1 = after.get(prog, (0, 0))
    return (t1 - t0) / (c1 - c0) if c1 > c0 else float("nan")


def run(quick: bool = False) -> dict[str, float]:
    from h7.sensor.sensor import Sensor

    if os.geteuid() != 0:
        raise BenchError("needs root")
    n = 300 if quick else 2000
    rounds = 3 if quick else 5
    mon, unm = Spawner(), Spawner()
    figs: dict[str, list[float]] = {
        k: []
        for k in (
            "exec_bpf_ns_monitored",
            "exec_bpf_ns_unmonitored",
            "fork_bpf_ns_unmonitored",
            "exec_wall_us_base",
            "exec_wall_us_unmonitored",
            "exec_wall_us_monitored",
        )
    }
    try:
        for r in range(rounds):
            figs["exec_wall_us_base"].append(unm.us(n))
            with Sensor() as s, bpf_stats_enabled():
                s.add_agent(mon.pid)
                d = DrainingSensor(s)
                try:
                    me = os.getpid()
                    a = bpf_prog_stats(me)
                    figs["exec_wall_us_unmonitored"].append(unm.us(n))
                    b = bpf_prog_stats(me)
                    figs["exec_wall_us_monitored"].append(mon.us(n))
                    c = bpf_prog_stats(me)
                finally:
                    d.stop()
            # other processes exec and fork on the host too; both windows see them
            figs["exec_bpf_ns_unmonitored"].append(_delta(a, b, "h7_exec"))
            figs["fork_bpf_ns_unmonitored"].append(_delta(a, b, "h7_fork"))
            figs["exec_bpf_ns_monitored"].append(_delta(b, c, "h7_exec"))
            print(
                f"[exec_cost] round {r}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in figs.items()),
                file=sys.stderr,
            )
            time.sleep(0.2)
    finally:
        mon.close()
        unm.close()
    return {k: median(v) for k, v in figs.items()}


def _main() -> None:
    for k, v in sorted(run("--quick" in sys.argv).items()):
        print(f"{k:40} {v:14.3f}")


if __name__ == "__main__":
    _main()
