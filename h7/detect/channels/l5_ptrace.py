"""L5 process attach: any PTRACE_ATTACH / PTRACE_SEIZE on a monitored process.

There is nothing to learn: a debugger attaching to an AI agent is never part
of its normal behaviour, and an attacker who can ptrace the agent can read
its memory (API keys, conversation) and rewrite its code.  So the channel
alerts on the first event, during the baseline as well, from the immediate
path.  PTRACE_TRACEME is not an attach by someone else (the process asks to
be traced by its parent) and is ignored; the kernel sensor reports only
requests that target a monitored task.
"""

from __future__ import annotations

from typing import Any

from h7.alert import Alert
from h7.batch import Event
from h7.detect.channels.base import Channel, ChannelContext

ATTACH_REQUESTS = {16: "ATTACH", 0x4206: "SEIZE"}


class PtraceChannel(Channel):
    name = "L5"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.count = 0
        self.last: dict[str, Any] | None = None

    def on_events(self, events: list[Event], ctx: ChannelContext) -> list[Alert]:
        out: list[Alert] = []
        for ev in events:
            if ev.get("type") != "ptrace":
                continue
            req = ev.get("request_nr")
            name = ATTACH_REQUESTS.get(int(req)) if isinstance(req, int) else None
            if name is None and ev.get("request") in ("ATTACH", "SEIZE"):
                name = str(ev["request"])
            if name is None:
                continue
            attacker_pid = int(ev.get("pid", 0))
            exe = ctx.proc.exe(attacker_pid)
            target = {"pid": int(ev.get("target_pid", 0)), "tid": int(ev.get("target", 0))}
            evidence: dict[str, Any] = {
                "request": name,
                "attacker": {
                    "pid": attacker_pid,
                    "tid": int(ev.get("tid", 0)),
                    "comm": ev.get("comm", ""),
                    "exe": exe if exe is not None else "unknown",
                    "uid": int(ev.get("uid", -1)),
                    "ppid": int(ev.get("ppid", 0)),
                },
                "target": target,
                "attacker_monitored": int(ev.get("agent", 0)) == ctx.agent,
            }
            self.count += 1
            self.last = evidence
            out.append(
                ctx.alert(
                    "L5",
                    "PTRACE_ATTACH_DETECTED",
                    int(ev.get("ts_ns", 0)),
                    divergence=1.0,
                    threshold=1.0,
                    key=f"{attacker_pid}->{target['pid']}",
                    evidence=evidence,
                )
            )
        return out

    def status(self) -> dict[str, Any]:
        return {
            "state": "armed",
            "divergence": float(self.count > 0),
            "threshold": 1.0,
            "attaches": self.count,
        }

    def to_state(self) -> dict[str, Any]:
        return {}

    def from_state(self, state: dict[str, Any]) -> None:
        self.baselined = True
