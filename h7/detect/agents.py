"""An agent's lifecycle in the engine: its phases, its state, what can go wrong, what is reported.

An agent is learning (``baseline``), then ``monitoring``; or, if its
baseline cannot give a model, ``dropped``.  The engine
(:mod:`h7.detect.engine`) moves agents between phases; this module holds
what it moves and what it tells the operator (:class:`Notice`,
:class:`BaselineError`).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from h7.batch import Event
from h7.detect.channels.base import PHASE_BASELINE, PHASE_MONITORING, Channel, ChannelContext
from h7.detect.folding import AgentFolder
from h7.detect.trace import TraceRing
from h7.errors import H7Error

__all__ = [
    "PHASE_BASELINE",
    "PHASE_DROPPED",
    "PHASE_MONITORING",
    "PHASE_WAITING",
    "AgentExitedDuringBaseline",
    "AgentIdleDuringBaseline",
    "AgentState",
    "BaselineError",
    "Notice",
    "agent_of",
]

#: Engine phase while it has no agent to watch (selector mode, nothing matched yet).
PHASE_WAITING = "waiting"
#: Agent phase after its baseline failed for good (its root exited): ignored from then on.
PHASE_DROPPED = "dropped"


class BaselineError(H7Error):
    """The baseline could not produce a model worth monitoring with."""

    exit_code = 3

    def __init__(self, message: str, agent_id: str = "") -> None:
        super().__init__(message)
        self.agent_id = agent_id


class AgentExitedDuringBaseline(BaselineError):
    """The agent's root process exited before the baseline was complete."""


class AgentIdleDuringBaseline(BaselineError):
    """The agent did (almost) nothing during the baseline: there is nothing to model."""


@dataclass(frozen=True)
class Notice:
    """Something about one agent's lifecycle an operator should read.

    ``kind`` is ``baseline-complete`` (info), ``baseline-loaded`` (info: a
    saved model was applied to an agent added later), ``baseline-restarted``
    (warning: the agent was idle, its window starts again) or ``dropped``
    (warning: its root exited during the baseline; it is no longer watched).
    Returned by :meth:`Engine.take_notices` rather than printed, so the same
    engine serves the live sensor (stderr), replay and tests.
    """

    kind: str
    agent_id: str
    message: str
    ts_ns: int
    level: str = "info"  # "info" | "warning"
    #: baseline-complete: what the channels learnt that an operator should review, by channel
    #: (L4: destinations allowed only because they were seen); signed by the live sensor
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "agent_id": self.agent_id,
            "message": self.message,
            "ts_ns": self.ts_ns,
            "level": self.level,
        }


@dataclass
class AgentState:
    """Everything the engine keeps per agent."""

    ctx: ChannelContext
    channels: list[Channel]
    ring: TraceRing
    syscalls: int = 0
    sched_events: float = 0.0
    active_batches: int = 0
    batches: int = 0
    exited_ns: int | None = None
    alerts: collections.Counter[str] = field(default_factory=collections.Counter)
    #: baseline -> monitoring, or baseline -> dropped; one per agent, not per engine
    phase: str = PHASE_BASELINE
    #: t0 of the first batch this agent's current baseline window saw (None: none yet)
    t_start: int | None = None
    #: t1 of the last batch this agent saw
    t_last: int = 0
    #: how many times an idle baseline was started again (watch mode)
    restarts: int = 0
    #: the baseline ran past its length to gather enough batches (Engine._baseline_due)
    stretched: bool = False
    #: why the agent was dropped, for status
    dropped: str = ""
    #: whether its model came from a saved baseline
    loaded_from: str = ""
    #: known windows dropped in userspace when no kernel filter is wired (sorted codes)
    user_filter: np.ndarray | None = None
    #: new-key folding and storm collapse of this agent's alerts (set by the engine)
    folder: AgentFolder = field(default_factory=lambda: AgentFolder(0, 0))
    #: the rest of its channels' end-of-baseline calibration, as steps (Engine.calibrate_step)
    calibrating: list[Iterator[None]] = field(default_factory=list)
    #: alert keys an operator accepted, per channel (``h7 accept --channel L2``): their
    #: verdicts are counted in ``accepted_hits``, never certified
    accepted_keys: dict[str, set[str]] = field(default_factory=dict)
    accepted_hits: collections.Counter[str] = field(default_factory=collections.Counter)

    def progress(self, baseline_ns: int) -> float:
        """Fraction of this agent's own baseline window covered (1.0 once monitoring)."""
        if self.phase != PHASE_BASELINE:
            return 1.0
        if self.t_start is None:
            return 0.0
        return min(1.0, max(0, self.t_last - self.t_start) / baseline_ns)


def agent_of(ev: Event) -> int:
    """The agent an event is about: a ptrace/access event belongs to its target's agent."""
    if ev.get("type") in ("ptrace", "access") and int(ev.get("target_agent", 0) or 0):
        return int(ev["target_agent"])
    return int(ev.get("agent", 0))
