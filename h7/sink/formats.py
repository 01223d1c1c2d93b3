"""How an alert looks to the outside: H7's native JSON and OCSF Detection Finding.

Both are built from one ``AlertRecord`` so every output of a sinkhole tells
the same story about the same alert (same id, same time, same severity).
The OCSF mapping targets schema 1.3.0, class Detection Finding
(class_uid 2004, category Findings, category_uid 2); the fields the schema
marks *required* are always present, the *recommended* ones whenever H7
knows them, and everything H7-specific goes under ``unmapped`` so a SIEM
that only speaks OCSF can ingest the event without a custom parser.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from h7 import __version__, registry

OCSF_VERSION = "1.3.0"
OCSF_CATEGORY_UID = 2  # Findings
OCSF_CLASS_UID = 2004  # Detection Finding
OCSF_ACTIVITY_CREATE = 1
FORMATS = ("h7", "ocsf")

SEVERITY_IDS = {
    "unknown": 0,
    "informational": 1,
    "info": 1,
    "low": 2,
    "medium": 3,
    "high": 4,
    "critical": 5,
    "fatal": 6,
}
SEVERITY_NAMES = {
    0: "Unknown",
    1: "Informational",
    2: "Low",
    3: "Medium",
    4: "High",
    5: "Critical",
    6: "Fatal",
}
# PagerDuty Events API v2 accepts exactly these four.
PAGERDUTY_SEVERITY = {
    0: "info",
    1: "info",
    2: "warning",
    3: "warning",
    4: "error",
    5: "critical",
    6: "critical",
}


def default_severity(code: str) -> str:
    """The severity the code's channel declares (how directly it implies compromise), else medium.

    Operators override it per code in ``[severity]``.
    """
    found = registry.code(code)
    return found[1].severity if found is not None else "medium"


def title_of(code: str) -> str:
    """The one-line title the code's channel declares (OCSF finding title, syslog message)."""
    found = registry.code(code)
    return found[1].title if found is not None else code.replace("_", " ").capitalize()


# ts_ns from the kernel is boot-relative; anything before 2001-09-09 is not a wall clock.
_WALL_CLOCK_FLOOR_NS = 1_000_000_000 * 1_000_000_000


def rfc3339(ns: int) -> str:
    dt = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}Z"


def split_agent_id(agent_id: str) -> tuple[str, int | None]:
    """``comm:pid:starttime`` -> (comm, pid).  comm may itself contain ':'."""
    parts = agent_id.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], int(parts[1])
    return agent_id, None


@dataclass
class AlertRecord:
    """One alert as the sinkhole received it."""

    id: str
    summary: dict[str, Any]
    cal_path: str
    cal: bytes
    spooled_ns: int
    received_ns: int = field(default_factory=time.time_ns)
    #: uid of the process that handed the alert over (SO_PEERCRED), when received on the socket
    peer_uid: int | None = None

    @property
    def cal_sha256(self) -> str:
        s = self.summary.get("cal_sha256")
        return s if isinstance(s, str) and s else hashlib.sha256(self.cal).hexdigest()

    def event_time_ns(self) -> int:
        """Wall-clock time of the detection.

        An explicit wall-clock ``time_ns`` from the sensor wins; a ``ts_ns``
        that is clearly wall-clock comes next; otherwise the moment the
        sensor spooled it, which is within milliseconds of the detection.
        """
        for k in ("time_ns", "ts_ns"):
            v = self.summary.get(k)
            if isinstance(v, int) and not isinstance(v, bool) and v >= _WALL_CLOCK_FLOOR_NS:
                return v
        return self.spooled_ns or self.received_ns


class Formatter:
    """Renders records; holds what is per-sinkhole (host name, severity policy)."""

    def __init__(
        self,
        host: str,
        severity_overrides: dict[str, str] | None = None,
        device_type_id: int = 0,
    ) -> None:
        self.host = host
        self.severity_overrides = dict(severity_overrides or {})
        self.device_type_id = device_type_id

    # -- shared facts ---------------------------------------------------------
    def host_of(self, rec: AlertRecord) -> str:
        h = rec.summary.get("host")
        return h if isinstance(h, str) and h else self.host

    def severity_id(self, rec: AlertRecord) -> int:
        explicit = rec.summary.get("severity")
        if isinstance(explicit, str) and explicit.lower() in SEVERITY_IDS:
            return SEVERITY_IDS[explicit.lower()]
        code = str(rec.summary.get("code"))
        return SEVERITY_IDS[self.severity_overrides.get(code) or default_severity(code)]

    @staticmethod
    def title(rec: AlertRecord) -> str:
        code = str(rec.summary.get("code", "UNKNOWN"))
        return title_of(code)

    def message(self, rec: AlertRecord) -> str:
        s = rec.summary
        div, thr = s.get("divergence"), s.get("threshold")
        score = ""
        if isinstance(div, int | float) and isinstance(thr, int | float):
            score = f", divergence {div:.3g} over threshold {thr:.3g}"
        key = f", key {s['key']}" if s.get("key") else ""
        return (
            f"H7 {s.get('code', '?')} ({s.get('channel', '?')}) on {self.host_of(rec)}: "
            f"agent {s.get('agent_id', '?')}{score}{key}"
        )

    # -- H7 native ------------------------------------------------------------
    def native(self, rec: AlertRecord, include_cal: bool = False) -> dict[str, Any]:
        t = rec.event_time_ns()
        sid = self.severity_id(rec)
        out: dict[str, Any] = {
            "schema": "h7.alert/1",
            "id": rec.id,
            "time": rfc3339(t),
            "time_ns": t,
            "host": self.host_of(rec),
            "severity": SEVERITY_NAMES[sid].lower(),
            "severity_id": sid,
            "title": self.title(rec),
            "message": self.message(rec),
            "channel": rec.summary.get("channel"),
            "code": rec.summary.get("code"),
            "agent_id": rec.summary.get("agent_id"),
            "summary": rec.summary,
            "cal": {"path": rec.cal_path, "sha256": rec.cal_sha256, "size": len(rec.cal)},
        }
        if rec.peer_uid is not None:
            out["received_from_uid"] = rec.peer_uid
        if include_cal:
            out["cal"]["base64"] = base64.b64encode(rec.cal).decode()
        return out

    # -- OCSF Detection Finding ----------------------------------------------
    def ocsf(self, rec: AlertRecord, include_cal: bool = False) -> dict[str, Any]:
        s = rec.summary
        t_ms = rec.event_time_ns() // 1_000_000
        sid = self.severity_id(rec)
        host = self.host_of(rec)
        channel = str(s.get("channel", ""))
        code = str(s.get("code", "UNKNOWN"))
        agent_id = str(s.get("agent_id", ""))
        comm, pid = split_agent_id(agent_id)
        process: dict[str, Any] = {"name": comm, "uid": agent_id}
        if pid is not None:
            process["pid"] = pid
        evidence: dict[str, Any] = {"process": process, "actor": {"process": process}}
        if isinstance(s.get("evidence"), dict) and s["evidence"]:
            evidence["data"] = s["evidence"]
        observables: list[dict[str, Any]] = [
            {"name": "device.hostname", "type_id": 1, "type": "Hostname", "value": host},
            {"name": "actor.process.name", "type_id": 9, "type": "Process Name", "value": comm},
        ]
        if pid is not None:
            observables.append(
                {"name": "actor.process.pid", "type_id": 15, "type": "Process ID", "value": str(pid)}
            )
        observables.append(
            {"name": "unmapped.h7.cal_sha256", "type_id": 8, "type": "Hash", "value": rec.cal_sha256}
        )
        h7: dict[str, Any] = {
            "alert_id": rec.id,
            "channel": channel,
            "code": code,
            "agent_id": agent_id,
            "divergence": s.get("divergence"),
            "threshold": s.get("threshold"),
            "key": s.get("key"),
            "suppressed": s.get("suppressed", 0),
            "cal_path": rec.cal_path,
            "cal_sha256": rec.cal_sha256,
            "summary": s,
        }
        if rec.peer_uid is not None:
            h7["received_from_uid"] = rec.peer_uid
        if include_cal:
            h7["cal_base64"] = base64.b64encode(rec.cal).decode()
        suppressed = s.get("suppressed")
        return {
            "activity_id": OCSF_ACTIVITY_CREATE,
            "activity_name": "Create",
            "category_uid": OCSF_CATEGORY_UID,
            "category_name": "Findings",
            "class_uid": OCSF_CLASS_UID,
            "class_name": "Detection Finding",
            "type_uid": OCSF_CLASS_UID * 100 + OCSF_ACTIVITY_CREATE,
            "type_name": "Detection Finding: Create",
            "severity_id": sid,
            "severity": SEVERITY_NAMES[sid],
            "status_id": 1,
            "status": "New",
            "time": t_ms,
            "timezone_offset": 0,
            "count": 1 + (suppressed if isinstance(suppressed, int) and suppressed > 0 else 0),
            "message": self.message(rec),
            "metadata": {
                "version": OCSF_VERSION,
                "uid": rec.id,
                "product": {"name": "H7", "vendor_name": "H7", "version": __version__},
                "profiles": ["host"],
                "log_name": "h7.alerts",
                "logged_time": rec.received_ns // 1_000_000,
            },
            "finding_info": {
                "uid": rec.id,
                "title": self.title(rec),
                "desc": self.message(rec),
                "types": [f"{channel}/{code}"],
                "created_time": t_ms,
                "analytic": {"uid": code, "name": f"{channel} {code}", "type_id": 2, "type": "Behavioral"},
            },
            "device": {"hostname": host, "name": host, "type_id": self.device_type_id},
            "actor": {"process": process},
            "evidences": [evidence],
            "observables": observables,
            "unmapped": {"h7": h7},
        }

    def render(self, rec: AlertRecord, fmt: str, include_cal: bool = False) -> dict[str, Any]:
        if fmt == "ocsf":
            return self.ocsf(rec, include_cal)
        return self.native(rec, include_cal)

    def context(self, rec: AlertRecord) -> dict[str, Any]:
        """What a webhook body template may refer to as ``{{ name }}``."""
        s = rec.summary
        sid = self.severity_id(rec)
        t = rec.event_time_ns()
        return {
            "id": rec.id,
            "host": self.host_of(rec),
            "time": rfc3339(t),
            "time_ns": t,
            "channel": s.get("channel"),
            "code": s.get("code"),
            "agent_id": s.get("agent_id"),
            "key": s.get("key"),
            "divergence": s.get("divergence"),
            "threshold": s.get("threshold"),
            "suppressed": s.get("suppressed", 0),
            "evidence": s.get("evidence", {}),
            "severity": SEVERITY_NAMES[sid].lower(),
            "severity_id": sid,
            "severity_name": SEVERITY_NAMES[sid],
            "pagerduty_severity": PAGERDUTY_SEVERITY[sid],
            "title": self.title(rec),
            "message": self.message(rec),
            "cal_path": rec.cal_path,
            "cal_sha256": rec.cal_sha256,
            "summary": s,
            "alert": self.native(rec),
            "ocsf": self.ocsf(rec),
        }


@functools.cache
def template_roots() -> frozenset[str]:
    """The names a webhook body template may refer to (``{{ title }}``, ``{{ alert.key }}``...)."""
    return frozenset(Formatter("x").context(AlertRecord("x", {"code": "X"}, "", b"", 1)).keys())
