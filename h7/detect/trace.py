"""The trace ring: the tail of an agent's kernel activity that every alert quotes.

Kept per agent by the engine; an alert's ``syscall_trace`` (and so its
certificate) is :meth:`TraceRing.trace` at the alert's timestamp.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

import numpy as np

from h7.batch import Event
from h7.decode import SYS_DTYPE
from h7.detect.syscalls import syscall_name


class TraceRing:
    """The last N syscalls and discrete events of one agent, for alert traces.

    Syscalls stay in a structured array: appending a batch costs one
    ``argpartition`` over it (only if it arrived out of time order), never a
    Python step per syscall.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.sys = np.zeros(0, SYS_DTYPE)
        self.events: collections.deque[Event] = collections.deque(maxlen=max(cap, 1))

    def add_sys(self, arr: np.ndarray) -> None:
        if self.cap <= 0 or arr.size == 0:
            return
        if arr.size > self.cap:
            ts = arr["ts_ns"]
            if bool((ts[1:] >= ts[:-1]).all()):
                arr = arr[-self.cap :]
            else:
                idx = np.argpartition(ts, arr.size - self.cap)[arr.size - self.cap :]
                arr = arr[idx]
        merged = np.concatenate((self.sys, arr))
        merged = merged[np.argsort(merged["ts_ns"], kind="stable")]
        self.sys = merged[-self.cap :]

    def add_events(self, events: Iterable[Event]) -> None:
        if self.cap > 0:
            self.events.extend(events)

    def trace(self, upto_ns: int, n: int) -> list[dict[str, Any]]:
        """Oldest-first merge of syscalls and events with ts <= upto_ns, the last n."""
        if n <= 0:
            return []
        s = self.sys[self.sys["ts_ns"] <= np.uint64(max(upto_ns, 0))][-n:]
        sys_items: list[dict[str, Any]] = []
        for ts, pid, tid, nr in zip(
            s["ts_ns"].tolist(), s["tgid"].tolist(), s["tid"].tolist(), s["nr"].tolist(), strict=True
        ):
            d: dict[str, Any] = {"type": "syscall", "ts_ns": ts, "pid": pid, "tid": tid, "nr": nr}
            name = syscall_name(nr)
            if name:
                d["name"] = name
            sys_items.append(d)
        evs = [e for e in self.events if int(e.get("ts_ns", 0)) <= upto_ns][-n:]
        merged = sorted(sys_items + [dict(e) for e in evs], key=lambda d: int(d["ts_ns"]))
        return merged[-n:]
