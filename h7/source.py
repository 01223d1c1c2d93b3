"""Where batches come from: the one interface the live sensor and a recorded journal both implement.

The pipeline (:mod:`h7.pipeline`) drives a :class:`Source` and never asks
which kind it is: the live sensor (:class:`h7.sensor.source.SensorSource`,
root, BPF) and a journal (:class:`JournalSource`, any user, a file) hand the
same three calls to a :class:`BatchHandler` -- newly drained syscalls, then
discrete events (the urgent path), then the closed batch -- so everything
downstream of the source (channels, alert, ``.cal``, spool, sinkhole) runs
the same from a journal in a test as from the kernel.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from h7.batch import AgentInfo, Batch, Event
from h7.journal import JournalError, JournalReader


class BatchHandler(Protocol):
    """What a source feeds: syscalls and events as they are drained, then the closed batch."""

    def on_syscalls(self, arr: np.ndarray) -> None: ...

    def on_events(self, events: list[Event]) -> None: ...

    def on_batch(self, batch: Batch) -> None: ...

    def on_idle(self) -> bool:
        """Work that can wait for a live source's spare time, one short step; whether more is left."""
        ...


class Source(ABC):
    """A stream of batches about a set of agents."""

    #: agents may appear after the start (selectors): a failed baseline drops or restarts
    #: that agent instead of ending the run
    watching: bool = False
    #: the source can stop shipping syscall windows the engine knows (the kernel filter);
    #: without it the engine drops them from alert traces itself (a replay)
    filters_in_kernel: bool = False
    #: ``run`` gives the handler's ``on_idle`` the spare time of each batch interval (live);
    #: a journal has none: its batches follow each other at once
    idles: bool = False

    @abstractmethod
    def open(self) -> list[AgentInfo]:
        """Start; returns the agents known from the start (may be empty while watching)."""

    @abstractmethod
    def run(
        self,
        batch_ns: int,
        handler: BatchHandler,
        should_stop: Callable[[], bool] | None = None,
        duration_s: float | None = None,
    ) -> str:
        """Feed ``handler`` until the source ends or is stopped; returns why it stopped."""

    def new_agents(self) -> list[AgentInfo]:
        """Agents that appeared since the last call (selector matches); called after each batch."""
        return []

    def retire_agents(self) -> list[int]:
        """Agent numbers whose agents ended and were retired (the engine forgets them); after each batch."""
        return []

    def drops(self) -> dict[str, int]:
        """Cumulative lost records, as certificates carry them."""
        return {}

    def counters(self) -> dict[str, Any]:
        """Transport counters for the status file (ring sizes, drains, ...)."""
        return {}

    def kernel_hooks(self) -> dict[str, Any]:
        """What feeds the run from the kernel, for the status file: ``gaps`` and ``hooks``.

        The live sensor's per-gap modes (issue 13: fentry, tracepoint or syscall) and the state of
        each program, as ``h7 doctor`` reports them, but from the programs this very run loaded:
        a reader (``h7 status``, the red-team harness) then needs no second load to know the
        mode.  Empty for a journal (nothing is loaded).
        """
        return {}

    def set_sequence_filter(self, agent: int, codes: np.ndarray) -> dict[str, Any]:
        """Stop shipping ``codes`` for ``agent`` (only when :attr:`filters_in_kernel`)."""
        raise NotImplementedError

    def mark_tool_runs(self, agent: int) -> None:
        """``agent``'s baseline ended: count its tool runs' scheduling apart from now on.

        Only the live sensor can (bpf/h7.h H7_SCOPE_TOOL); a journal carries
        what its recording did (``Batch.tool_split``), so this does nothing.
        """
        return None

    def end_phrase(self, reason: str) -> str:
        """Who ended a run that stopped with ``reason``, for a message ("the agent exited")."""
        return "the agent exited" if reason == "agent-exited" else f"the agent was stopped ({reason})"

    def clock_offset_ns(self) -> int:
        """Add to a batch timestamp (CLOCK_MONOTONIC) to get CLOCK_REALTIME ns."""
        return time.time_ns() - time.monotonic_ns()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`open` took."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def interleave(
    batch: Batch, on_syscalls: Callable[[np.ndarray], Any], on_events: Callable[[list[Event]], Any]
) -> None:
    """Replay a closed batch as the live sensor delivered it: syscalls up to each event, then the event.

    Events with the same syscall cut are handed over together; syscalls after
    the last event come last.  So an alert raised on the urgent path quotes
    the syscalls that led to it, as it would have live.
    """
    sys = batch.syscalls
    if not batch.events:
        if sys.size:
            on_syscalls(sys)
        return
    if sys.size == 0:
        on_events(batch.events)
        return
    ts = sys["ts_ns"]
    if not bool((ts[1:] >= ts[:-1]).all()):
        sys = sys[np.argsort(ts, kind="stable")]
        ts = sys["ts_ns"]
    ev_ts = np.fromiter((int(e.get("ts_ns", 0)) for e in batch.events), np.uint64, len(batch.events))
    cuts = np.searchsorted(ts, ev_ts, side="right")
    prev = 0
    i = 0
    n = len(batch.events)
    while i < n:
        j = i
        while j + 1 < n and cuts[j + 1] == cuts[i]:
            j += 1
        c = int(cuts[i])
        if c > prev:
            on_syscalls(sys[prev:c])
            prev = c
        on_events(batch.events[i : j + 1])
        i = j + 1
    if prev < sys.size:
        on_syscalls(sys[prev:])


class JournalSource(Source):
    """A recorded journal (``h7 record``), fed as fast as the handler takes it.

    The agents are the journal's; the pids in it belong to another time (often
    another host), so nothing here reads /proc.  ``duration_s`` counts kernel
    time from the first batch, not wall time.  A journal is input: a batch the
    handler cannot use (an event missing a field the engine needs) ends the
    run with a one-line :class:`h7.journal.JournalError` naming the batch,
    not a traceback.
    """

    #: what a handler raises on a record it cannot use (as opposed to H7Error: a decision)
    MALFORMED = (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self._reader: Any = None
        self.truncated: Any = None
        self.batches = 0
        self._drops: dict[str, int] = {}

    def open(self) -> list[AgentInfo]:
        return list(self.header.agents)

    @property
    def header(self) -> Any:
        """The journal's header (read on first use: a caller may size its config by it before the run)."""
        if self._reader is None:
            self._reader = JournalReader(self.path)
        return self._reader.header

    def run(
        self,
        batch_ns: int,
        handler: BatchHandler,
        should_stop: Callable[[], bool] | None = None,
        duration_s: float | None = None,
    ) -> str:
        assert self._reader is not None, "open() first"
        t_first: int | None = None
        for batch in self._reader:
            if should_stop is not None and should_stop():
                return "stopped"
            if t_first is None:
                t_first = int(batch.t0_ns)
            if duration_s is not None and batch.t1_ns - t_first > duration_s * 1e9:
                return "duration"
            self.batches += 1
            self._drops = dict(batch.drops)
            try:
                interleave(batch, handler.on_syscalls, handler.on_events)
                handler.on_batch(batch)
            except self.MALFORMED as e:
                raise JournalError(
                    f"{os.fspath(self.path)}: batch {self.batches} has events the engine cannot use "
                    f"({type(e).__name__}: {e})"[:300]
                ) from None
        self.truncated = self._reader.truncated
        return "journal-truncated" if self.truncated is not None else "journal-end"

    def end_phrase(self, reason: str) -> str:
        if reason == "journal-end":
            return f"{os.fspath(self.path)} ends"
        if reason == "journal-truncated":
            return f"{os.fspath(self.path)} is cut short"
        return f"the replay of {os.fspath(self.path)} was stopped ({reason})"

    def drops(self) -> dict[str, int]:
        return dict(self._drops)

    def counters(self) -> dict[str, Any]:
        return {"journal": os.fspath(self.path), "batches": self.batches}

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
