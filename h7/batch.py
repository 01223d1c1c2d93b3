"""The unit of work between the sensor and the detection core.

A :class:`Batch` is what one batch interval (default 1 s) of kernel activity
looks like after decoding.  The live sensor produces them; ``h7 record``
writes them to a msgpack journal; ``h7 replay`` reads them back; the
detection engine consumes them and cannot tell the difference.  Keeping this
type small and serialisable is what makes every channel testable without a
kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from h7.decode import (
    STATS_DTYPE,
    STATS_SIZE_V2,
    STATS_SIZE_V3,
    STATS_SIZE_V4,
    STATS_SIZE_V5,
    SYS_DTYPE,
    SYS_DTYPE_V1,
)

Event = dict[str, Any]


@dataclass
class AgentInfo:
    """What the sensor knows about one attached agent (the root pid and its tree)."""

    agent: int  # small integer id used in the kernel maps
    agent_id: str  # stable, human-meaningful id used in alerts and .cal files
    root_pid: int
    exe: str
    cmdline: list[str]
    start_time_ns: int  # boot-relative start time of the root pid
    #: the root's working directory when the sensor attached ("" unknown).  The kernel
    #: reports chdirs from then on; this is the one fact about paths from before, so it is
    #: journalled with the agent and a replay resolves relative paths as the live run did.
    cwd: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "agent": self.agent,
            "agent_id": self.agent_id,
            "root_pid": self.root_pid,
            "exe": self.exe,
            "cmdline": list(self.cmdline),
            "start_time_ns": self.start_time_ns,
        }
        if self.cwd:  # journal version 3 (older journals, and unknown cwds, have no key)
            d["cwd"] = self.cwd
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AgentInfo:
        return cls(
            agent=int(d["agent"]),
            agent_id=str(d["agent_id"]),
            root_pid=int(d["root_pid"]),
            exe=str(d["exe"]),
            cmdline=[str(a) for a in d["cmdline"]],
            start_time_ns=int(d["start_time_ns"]),
            cwd=str(d.get("cwd", "")),
        )


@dataclass
class Batch:
    """One interval of decoded kernel activity.

    ``syscalls`` is a SYS_DTYPE array (never Python objects per syscall).
    ``events`` are discrete events (fork/exec/exit/open/net/ptrace) as dicts,
    in kernel timestamp order.  ``stats`` holds the per-agent in-kernel
    counters (STATS_DTYPE scalars) *accumulated during this batch only*.
    ``drops`` are cumulative ring-buffer drop counters since attach, so a
    consumer can tell whether this batch is missing evidence.
    """

    t0_ns: int
    t1_ns: int
    syscalls: np.ndarray = field(default_factory=lambda: np.zeros(0, SYS_DTYPE))
    events: list[Event] = field(default_factory=list)
    stats: dict[int, np.ndarray] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    #: per agent, CPU ns so far of each live process of its tree, sampled as the batch closed
    #: (h7.detect.proctree; live runs only, empty in journals recorded before it existed)
    procs: dict[int, dict[int, int]] = field(default_factory=dict)
    #: agents whose tool runs the kernel counted apart for this whole batch (the ``tool_*``
    #: stats: bpf/h7.h H7_SCOPE_TOOL, marked from the end of the agent's baseline on)
    tool_split: frozenset[int] = frozenset()

    def to_record(self) -> dict[str, Any]:
        """A msgpack-ready mapping (bytes for the arrays, exact ints for time)."""
        return {
            "t0": self.t0_ns,
            "t1": self.t1_ns,
            "sys": np.ascontiguousarray(self.syscalls, SYS_DTYPE).tobytes(),
            "events": self.events,
            "stats": {int(a): np.asarray(s, STATS_DTYPE).tobytes() for a, s in self.stats.items()},
            "drops": dict(self.drops),
            # only when sampled: a record without it is byte-identical to older journals'
            **(
                {"procs": {int(a): {int(p): int(n) for p, n in d.items()} for a, d in self.procs.items()}}
                if self.procs
                else {}
            ),
            **({"tool_split": sorted(self.tool_split)} if self.tool_split else {}),
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any], version: int = 2) -> Batch:
        """Inverse of :meth:`to_record`; ``version`` 1 records (no windows) are widened, windows 0."""
        sys_dt = SYS_DTYPE if version >= 2 else SYS_DTYPE_V1
        # v1 stats lack seq_filtered; v2 journals written before the exact CPU time lack the
        # oncpu_* fields, and before the run-queue split its three histograms: zero-extended
        # (L1 then estimates CPU time from the slice histogram, and judges the unsplit shape);
        # before the per-agent drop counters, those: zero (nothing known lost); before the tool
        # runs' scheduling was counted apart, those: zero (and no agent in tool_split)
        sizes = (
            (STATS_DTYPE.itemsize, STATS_SIZE_V5, STATS_SIZE_V4, STATS_SIZE_V3, STATS_SIZE_V2)
            if version >= 2
            else (STATS_SIZE_V2 - 8,)
        )
        sys_raw = rec.get("sys", b"")
        if len(sys_raw) % sys_dt.itemsize:
            raise ValueError("journal batch: syscall block is not a whole number of records")
        stats = {}
        for a, raw in rec.get("stats", {}).items():
            if len(raw) not in sizes:
                raise ValueError("journal batch: stats record has the wrong size")
            full = raw.ljust(STATS_DTYPE.itemsize, b"\0")
            stats[int(a)] = np.frombuffer(full, STATS_DTYPE, count=1)[0].copy()
        sys_arr = np.frombuffer(sys_raw, sys_dt)
        if sys_dt is not SYS_DTYPE:
            wide = np.zeros(sys_arr.size, SYS_DTYPE)
            for name in sys_dt.names or ():
                wide[name] = sys_arr[name]
            sys_arr = wide
        return cls(
            t0_ns=int(rec["t0"]),
            t1_ns=int(rec["t1"]),
            syscalls=sys_arr.copy(),
            events=list(rec.get("events", [])),
            stats=stats,
            drops={str(k): int(v) for k, v in rec.get("drops", {}).items()},
            procs={int(a): {int(p): int(n) for p, n in d.items()} for a, d in rec.get("procs", {}).items()},
            tool_split=frozenset(int(a) for a in rec.get("tool_split", ())),
        )


def make_agent_id(comm: str, root_pid: int, start_ticks: int) -> str:
    """``<comm>:<root_pid>:<start_ticks>``: unique per process lifetime on a host.

    The start time (field 22 of /proc/<pid>/stat, clock ticks since boot)
    makes a recycled pid a different agent, so an operator action naming an
    agent_id can never hit an unrelated process that reused the pid.
    """
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in comm) or "agent"
    return f"{safe}:{root_pid}:{start_ticks}"


def parse_agent_id(agent_id: str) -> tuple[str, int, int]:
    """Inverse of :func:`make_agent_id`; ValueError on anything else."""
    parts = agent_id.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise ValueError(f"not an H7 agent id: {agent_id!r}")
    return parts[0], int(parts[1]), int(parts[2])
