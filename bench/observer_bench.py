"""`make bench` section "observer": what bounding L2's looks at agent-named files costs.

Every ``stat``, ``realpath`` and open-and-read L2 takes of a path a watched process named runs
in a worker thread of ``h7.safeio.Observer`` with a deadline (docs/detection.md, "Looks that the
agent's filesystem can stall"), so a file the agent serves over FUSE cannot hold the detection
thread.  The price is a hand-off per look, paid only by execs and opens L2 has to look at (a
program known by its inode costs none).  Figures, side by side in one run, one thread asking:

* ``look_stat_direct_us`` / ``look_stat_observed_us`` -- ``os.stat`` of an installed binary,
  inline and through the observer; ``look_read4k_direct_us`` / ``look_read4k_observed_us`` --
  open, read 4 KiB, close (``open_observed``), the same two ways;
* ``look_handoff_us`` -- the difference for the stat: what one bounded look adds.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from h7.safeio import Observer, open_observed


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):  # best of three: the host is shared
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def run(quick: bool) -> dict[str, float]:
    path = os.path.realpath(sys.executable)
    obs = Observer()
    n = 300 if quick else 3000

    def read_direct() -> bytes:
        with open_observed(path) as f:
            return f.read(4096)

    out = {
        "look_stat_direct_us": _per_call_us(lambda: os.stat(path), n),
        "look_stat_observed_us": _per_call_us(lambda: obs.stat(path), n),
        "look_read4k_direct_us": _per_call_us(read_direct, n),
        "look_read4k_observed_us": _per_call_us(lambda: obs.read(path, lambda f: f.read(4096)), n),
    }
    out["look_handoff_us"] = out["look_stat_observed_us"] - out["look_stat_direct_us"]
    return {k: round(v, 2) for k, v in out.items()}
