"""The one shape a detection takes on its way to a .cal certificate and the sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHANNELS = ("L1", "L2", "L3", "L4", "L5")
CODES = {
    "L1": ("DRIFT_DETECTED",),
    "L2": (
        "LLM_AGENT_HIJACK",
        "LIVING_OFF_THE_LAND",
        "FILELESS_EXEC",
        "AGENT_WRITTEN_EXEC",
        "DAEMON_HANDOFF",
    ),
    "L3": ("STRUCTURAL_DRIFT", "CAUSAL_CYCLE_DETECTED"),
    "L4": ("UNKNOWN_DESTINATION", "NET_EGRESS_BURST"),
    "L5": ("PTRACE_ATTACH_DETECTED", "PROCESS_MEMORY_ACCESS", "FD_THEFT_DETECTED"),
}


@dataclass
class Alert:
    """A channel's verdict.

    ``key`` identifies "the same thing again" (e.g. the destination) for rate
    limiting; ``suppressed`` counts repeats folded into this alert since the
    previous one with the same (channel, code, key).  ``syscall_trace`` is the
    tail of the agent's kernel events that preceded the detection, oldest
    first, as event dicts (syscalls appear as {"type": "syscall", ...}).
    """

    channel: str
    code: str
    agent_id: str
    ts_ns: int
    divergence: float
    threshold: float
    key: str
    evidence: dict[str, Any] = field(default_factory=dict)
    syscall_trace: list[dict[str, Any]] = field(default_factory=list)
    suppressed: int = 0

    def __post_init__(self) -> None:
        if self.channel not in CODES or self.code not in CODES[self.channel]:
            raise ValueError(f"alert code {self.code!r} does not belong to channel {self.channel!r}")
        if not isinstance(self.ts_ns, int):
            raise TypeError("ts_ns must be an int of nanoseconds, never a float")

    def summary(self) -> dict[str, Any]:
        """The short form sent to the sinkhole next to the certificate."""
        return {
            "channel": self.channel,
            "code": self.code,
            "agent_id": self.agent_id,
            "ts_ns": self.ts_ns,
            "divergence": float(self.divergence),
            "threshold": float(self.threshold),
            "key": self.key,
            "evidence": self.evidence,
            "suppressed": self.suppressed,
        }
