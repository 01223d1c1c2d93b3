"""The live sensor as a :class:`h7.source.Source`: BPF rings, the agents named by pid or selector.

Everything that is about *finding* agents on this host lives here: the
refusal of host-wide targets, attaching the pids and selector matches at the
start, and picking up new selector matches after every batch.  The pipeline
above it is the same for a journal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from h7.batch import AgentInfo
from h7.errors import UsageError
from h7.sensor import procfs, selectors
from h7.sensor.sensor import AgentCapacityError, Sensor
from h7.source import BatchHandler, Source


def check_targets(pids: tuple[int, ...], sels: list[selectors.Selector], allow_host_wide: bool) -> None:
    """One clear line for a bad pid or a whole-host target, before anything is loaded."""
    for pid in pids:
        procfs.validate_agent_pid(pid)
    if allow_host_wide:
        return
    for s in sels:
        if s.kind == "cgroup" and s.value == "/":
            raise UsageError(
                "cgroup=/ is the whole host: every process would be an agent; "
                "pass --allow-host-wide if that is really meant"
            )
    for pid in (*pids, *selectors.resolve(sels, set(pids))):
        why = procfs.host_wide_reason(pid)
        if why:
            raise UsageError(
                f"refusing to watch the whole host: {why}; H7 would alert on other users' processes. "
                "Name the agent's own pid, or pass --allow-host-wide if that is really meant"
            )


class SensorSource(Source):
    """Kernel events of the agents named by ``pids`` and ``sels`` (and their descendants)."""

    filters_in_kernel = True
    idles = True

    def __init__(
        self,
        pids: tuple[int, ...],
        sels: list[selectors.Selector],
        *,
        allow_host_wide: bool = False,
        follow_daemons: tuple[list[str], int] | None = None,
        receiver_window_ns: int = 0,
        egress_repeat_ns: int = 0,
        say: Callable[[str], None] = lambda _line: None,
        sensor: Sensor | None = None,
    ) -> None:
        self.pids = pids
        self.sels = sels
        self.allow_host_wide = allow_host_wide
        self.watching = any(s.watches_new for s in sels)
        self.follow_daemons = follow_daemons
        self.receiver_window_ns = receiver_window_ns
        self.egress_repeat_ns = egress_repeat_ns
        self.say = say
        self.sensor = sensor or Sensor()
        self.host_wide_skipped = 0

    def open(self) -> list[AgentInfo]:
        self.sensor.open()
        if self.follow_daemons is not None:
            self.sensor.set_follow_daemons(*self.follow_daemons)
        if self.receiver_window_ns:
            self.sensor.set_receiver_window(self.receiver_window_ns)
        if self.egress_repeat_ns:
            self.sensor.set_egress_repeat(self.egress_repeat_ns)
        ms = self.sensor.attach_seconds * 1000
        infos: list[AgentInfo] = []
        for pid in (*self.pids, *selectors.resolve(self.sels, set(self.pids))):
            info = self.sensor.add_agent(pid, selectors.label_for(pid, self.sels))
            infos.append(info)
            self.say(f"h7: attached to {info.agent_id} ({info.exe}); programs attached in {ms:.0f} ms")
        if not infos:
            self.say(
                f"h7: programs attached in {ms:.0f} ms; waiting for an agent matching "
                + ", ".join(str(x) for x in self.sels)
            )
        return infos

    def run(
        self,
        batch_ns: int,
        handler: BatchHandler,
        should_stop: Callable[[], bool] | None = None,
        duration_s: float | None = None,
    ) -> str:
        return self.sensor.run(
            batch_ns,
            handler.on_batch,
            handler.on_events,
            should_stop=should_stop,
            duration_s=duration_s,
            on_syscalls=handler.on_syscalls,
            stop_when_no_agents=not self.watching,
            on_idle=handler.on_idle,
        )

    def new_agents(self) -> list[AgentInfo]:
        """Processes that match a selector and started since the last look."""
        if not self.watching:
            return []
        out: list[AgentInfo] = []
        watched = {p for st in self.sensor.agents.values() for p in st.live}
        snapshot: dict[int, procfs.ProcStat] | None = None  # one /proc scan for every match of this look
        for pid in selectors.resolve(self.sels, watched):
            if not self.allow_host_wide:
                if snapshot is None:
                    snapshot = procfs.all_stats()
                why = procfs.host_wide_reason(pid, snapshot)
                if why:
                    self.host_wide_skipped += 1
                    if self.host_wide_skipped == 1:
                        self.say(f"h7: warning: not watching pid {pid}: {why}")
                    continue
            try:
                info = self.sensor.add_agent(pid, selectors.label_for(pid, self.sels))
            except AgentCapacityError as e:
                n = self.sensor.capacity_refused
                if n == 1 or n % 100 == 0:  # said, not flooded
                    self.say(f"h7: ALARM: not watching pid {pid}: {e} ({n} such matches so far)")
                continue
            except UsageError:
                continue  # exited between the scan and the attach, or already covered
            out.append(info)
            self.say(f"h7: attached to {info.agent_id} ({info.exe}), matched by a selector")
        return out

    def retire_agents(self) -> list[int]:
        """Watch mode: free the agent numbers of agents whose processes are all gone."""
        return self.sensor.retire_dead() if self.watching else []

    def drops(self) -> dict[str, int]:
        return self.sensor.drops() if self.sensor.obj is not None else {}

    def counters(self) -> dict[str, Any]:
        return {
            **self.sensor.ring_counters(),
            "agent_capacity_refused": self.sensor.capacity_refused,
            "scope_insert_failed": self.sensor.scope_insert_failed,
            "agents_retired": self.sensor.retired,
        }

    def kernel_hooks(self) -> dict[str, Any]:
        return {
            "gaps": {
                name: {k: g[k] for k in ("gap", "mode", "hooks") if k in g}
                for name, g in self.sensor.gap_modes.items()
            },
            "hooks": [
                {"program": h.program, "section": h.section, "state": h.state} for h in self.sensor.hooks
            ],
        }

    def mark_tool_runs(self, agent: int) -> None:
        self.sensor.mark_tool_runs(agent)

    def set_sequence_filter(self, agent: int, codes: np.ndarray) -> dict[str, Any]:
        f = self.sensor.set_sequence_filter(agent, codes)
        st = self.sensor.agents.get(agent)
        f["agent_id"] = st.info.agent_id if st is not None else str(agent)
        return f

    def close(self) -> None:
        self.sensor.close()
