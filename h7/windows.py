"""The kernel's per-thread syscall windows, recomputed in userspace.

The live sensor gets every syscall record with its window code already
computed by the kernel (bpf/h7.h).  Syscall records that did not come from
this kernel -- journals written before windows moved into the kernel,
synthetic journals, benchmarks -- get theirs here, with the same per-thread
state the kernel keeps: a thread's window continues across batches and
starts empty for a thread never seen before.
"""

from __future__ import annotations

import numpy as np

from h7.decode import SYS_DTYPE
from h7.detect.sequence import window_codes


class WindowTracker:
    """Per-thread window state over a stream of syscall batches (in time order)."""

    def __init__(self, max_threads: int = 1 << 16) -> None:
        self._last: dict[int, int] = {}
        self.max_threads = max_threads

    def fill(self, sys: np.ndarray) -> np.ndarray:
        """A copy of the SYS_DTYPE records ``sys`` with ``window`` set (in time order per thread)."""
        out = np.array(sys, dtype=SYS_DTYPE)
        if sys.size == 0:
            return out
        if len(self._last) > self.max_threads:
            self._last.clear()  # bounded: a thread forgotten here restarts its window, nothing worse
        tid = out["tid"]
        order = np.argsort(tid, kind="stable")
        st = tid[order]
        cuts = np.flatnonzero(st[1:] != st[:-1]) + 1
        starts = np.concatenate(([0], cuts))
        ends = np.append(cuts, st.size)
        nr = out["nr"]
        win = out["window"]
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            idx = order[a:b]
            t = int(st[a])
            codes = window_codes(nr[idx], self._last.get(t, 0))
            win[idx] = codes
            self._last[t] = int(codes[-1])
        return out


def with_windows(sys: np.ndarray) -> np.ndarray:
    """One batch, every thread starting empty (tests, synthetic data)."""
    return WindowTracker().fill(sys)
