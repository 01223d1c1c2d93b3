"""The one shape a detection takes on its way to a .cal certificate and the sink.

Which codes a channel may emit is declared by the channel (:mod:`h7.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from h7 import registry


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
        spec = registry.get(self.channel)
        if spec is None or self.code not in spec.code_names:
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
