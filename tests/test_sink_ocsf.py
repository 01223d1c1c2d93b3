"""OCSF output checked against the Detection Finding class as the schema documents it.

Written from ocsf-schema 1.3.0 (events/base_event.json, events/findings/
finding.json, events/findings/detection_finding.json and the objects they
use), transcribed here by hand so the test needs no network and no schema
download.  Profile attributes (cloud, osint, security_control's action_id)
are required only when the event declares that profile in
metadata.profiles, which is how the schema scopes them.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, TypeGuard

import pytest
from test_sink_support import summary

from h7 import registry
from h7.alert import Alert
from h7.sink.formats import AlertRecord, Formatter
from h7.sink.framing import alert_id

# Every attribute of detection_finding (base_event + finding + detection_finding + profiles).
CLASS_ATTRIBUTES = {
    "action", "action_id", "activity_id", "activity_name", "actor", "api", "attacks", "authorizations",
    "category_name", "category_uid", "class_name", "class_uid", "cloud", "comment", "confidence",
    "confidence_id", "confidence_score", "count", "device", "disposition", "disposition_id", "duration",
    "end_time", "enrichments", "evidences", "finding_info", "firewall_rule", "impact", "impact_id",
    "impact_score", "malware", "message", "metadata", "observables", "osint", "raw_data", "remediation",
    "resources", "risk_details", "risk_level", "risk_level_id", "risk_score", "severity", "severity_id",
    "start_time", "status", "status_code", "status_detail", "status_id", "time", "timezone_offset",
    "type_name", "type_uid", "unmapped", "vulnerabilities",
}  # fmt: skip
REQUIRED = {
    "activity_id",
    "category_uid",
    "class_uid",
    "type_uid",
    "time",
    "metadata",
    "severity_id",
    "finding_info",
}
PROFILE_REQUIRED = {"cloud": {"cloud"}, "osint": {"osint"}, "security_control": {"action_id"}}
RECOMMENDED = {"message", "observables", "status_id", "evidences", "resources", "device", "confidence_id"}
ACTIVITY = {0: "Unknown", 1: "Create", 2: "Update", 3: "Close", 99: "Other"}
SEVERITY = {
    0: "Unknown",
    1: "Informational",
    2: "Low",
    3: "Medium",
    4: "High",
    5: "Critical",
    6: "Fatal",
    99: "Other",
}
FINDING_STATUS = {0: "Unknown", 1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved", 99: "Other"}
ANALYTIC_TYPES = set(range(12)) | {99}
EVIDENCE_AT_LEAST_ONE = {
    "actor", "api", "connection_info", "data", "database", "databucket", "device", "dst_endpoint", "email",
    "file", "process", "query", "src_endpoint", "url", "user", "job",
}  # fmt: skip
OBSERVABLE_TYPES = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 19, 99}


def is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def validate_detection_finding(ev: dict[str, Any]) -> list[str]:
    """Problems with ``ev`` as an OCSF 1.3 Detection Finding; empty when valid."""
    errs: list[str] = []
    profiles = set(ev.get("metadata", {}).get("profiles", []))
    required = set(REQUIRED)
    for p in profiles:
        required |= PROFILE_REQUIRED.get(p, set())
    errs += [f"missing required {k}" for k in sorted(required - ev.keys())]
    errs += [f"attribute {k} is not in the class" for k in sorted(ev.keys() - CLASS_ATTRIBUTES)]
    # classification: ids and their captions / derived uid
    if ev.get("category_uid") != 2:
        errs.append("category_uid must be 2 (Findings)")
    if ev.get("class_uid") != 2004:
        errs.append("class_uid must be 2004 (Detection Finding)")
    act = ev.get("activity_id")
    if act not in ACTIVITY:
        errs.append(f"activity_id {act!r} not in enum")
    elif "activity_name" in ev and ev["activity_name"] != ACTIVITY[act]:
        errs.append("activity_name does not match activity_id")
    if ev.get("type_uid") != 2004 * 100 + (act if is_int(act) else -1):
        errs.append("type_uid must be class_uid * 100 + activity_id")
    if "type_name" in ev and act in ACTIVITY and ev["type_name"] != f"Detection Finding: {ACTIVITY[act]}":
        errs.append("type_name does not match")
    if ev.get("category_name", "Findings") != "Findings" or ev.get("class_name", "Detection Finding") != (
        "Detection Finding"
    ):
        errs.append("category_name/class_name captions wrong")
    sev = ev.get("severity_id")
    if sev not in SEVERITY:
        errs.append(f"severity_id {sev!r} not in enum")
    elif "severity" in ev and ev["severity"] != SEVERITY[sev]:
        errs.append("severity caption does not match severity_id")
    st = ev.get("status_id")
    if st is not None and st not in FINDING_STATUS:
        errs.append("status_id not in the Finding enum")
    elif st is not None and "status" in ev and ev["status"] != FINDING_STATUS[st]:
        errs.append("status caption does not match status_id")
    # timestamp_t is milliseconds since the epoch
    t = ev.get("time")
    if not is_int(t) or not 10**12 <= t < 10**14:
        errs.append(f"time {t!r} is not an epoch timestamp in milliseconds")
    if "timezone_offset" in ev and not is_int(ev["timezone_offset"]):
        errs.append("timezone_offset must be an integer (minutes)")
    if "count" in ev and (not is_int(ev["count"]) or ev["count"] < 1):
        errs.append("count must be a positive integer")
    # metadata: version (SemVer) and product (vendor_name required; _entity needs name or uid)
    md = ev.get("metadata", {})
    if not re.fullmatch(r"1\.\d+\.\d+(?:-[\w.]+)?", str(md.get("version", ""))):
        errs.append("metadata.version must be the OCSF 1.x schema version")
    prod = md.get("product")
    if not isinstance(prod, dict):
        errs.append("metadata.product is required")
    else:
        if not prod.get("vendor_name"):
            errs.append("metadata.product.vendor_name is required")
        if not (prod.get("name") or prod.get("uid")):
            errs.append("metadata.product needs name or uid")
    for k in ("logged_time", "original_time", "processed_time"):
        if k in md and not is_int(md[k]):
            errs.append(f"metadata.{k} must be a timestamp")
    # finding_info: uid and title required; analytic.type_id required when analytic present
    fi = ev.get("finding_info", {})
    for k in ("uid", "title"):
        if not isinstance(fi.get(k), str) or not fi.get(k):
            errs.append(f"finding_info.{k} is required")
    an = fi.get("analytic")
    if an is not None and an.get("type_id") not in ANALYTIC_TYPES:
        errs.append("finding_info.analytic.type_id is required and must be in the enum")
    if "types" in fi and not all(isinstance(x, str) for x in fi["types"]):
        errs.append("finding_info.types must be strings")
    # device (endpoint): type_id required; hostname recommended
    dev = ev.get("device")
    if dev is not None and not is_int(dev.get("type_id")):
        errs.append("device.type_id is required")
    # process objects: at least one of pid, uid
    procs = [ev.get("actor", {}).get("process")] + [e.get("process") for e in ev.get("evidences", [])]
    for p in procs:
        if p is not None and not (("pid" in p and is_int(p["pid"])) or p.get("uid")):
            errs.append("process needs pid or uid")
    for e in ev.get("evidences", []):
        if not EVIDENCE_AT_LEAST_ONE & e.keys():
            errs.append("each evidences entry needs at least one of its artifact attributes")
    for o in ev.get("observables", []):
        if not o.get("name") or o.get("type_id") not in OBSERVABLE_TYPES:
            errs.append(f"observable {o!r} needs name and a valid type_id")
    if "unmapped" in ev and not isinstance(ev["unmapped"], dict):
        errs.append("unmapped must be an object")
    return errs


def test_validator_catches_what_it_should() -> None:
    bad = {"class_uid": 2004, "category_uid": 2, "activity_id": 1, "type_uid": 200402, "time": 5,
           "metadata": {"version": "2.0", "product": {}}, "finding_info": {"uid": "x"}, "bogus": 1,
           "severity_id": 9}  # fmt: skip
    errs = "\n".join(validate_detection_finding(bad))
    for needle in (
        "type_uid",
        "time 5",
        "metadata.version",
        "vendor_name",
        "finding_info.title",
        "bogus",
        "severity_id",
    ):
        assert needle in errs


@pytest.mark.parametrize(("channel", "code"), [(ch, c) for ch, cs in registry.codes().items() for c in cs])
def test_every_alert_code_renders_a_valid_detection_finding(channel: str, code: str) -> None:
    alert = Alert(channel, code, "node:31337:998877", 123_456_789, 0.8, 0.4, "k", {"x": 1}, [], 2)
    s = {**alert.summary(), "host": "web-01", "seq": 4}
    cal = b"certificate bytes"
    rec = AlertRecord(alert_id(s, cal), s, "/var/lib/h7/cal/4.cal", cal, time.time_ns())
    ev = Formatter("fallback").ocsf(rec)
    assert validate_detection_finding(ev) == []
    assert RECOMMENDED - {"resources", "confidence_id"} <= ev.keys()
    assert ev["finding_info"]["uid"] == ev["metadata"]["uid"] == rec.id
    assert ev["metadata"]["product"] == {
        "name": "H7",
        "vendor_name": "H7",
        "version": ev["metadata"]["product"]["version"],
    }
    assert ev["device"]["hostname"] == "web-01" and ev["actor"]["process"]["pid"] == 31337
    assert ev["count"] == 3  # this alert plus the two repeats it folded in
    assert ev["unmapped"]["h7"]["cal_path"] == "/var/lib/h7/cal/4.cal"
    json.dumps(ev, allow_nan=False)  # plain JSON, nothing exotic


def test_time_uses_wall_clock_not_boot_relative_ts_ns() -> None:
    s = summary(1)  # ts_ns is small: boot-relative
    rec = AlertRecord("i", s, "/c", b"", spooled_ns=1_700_000_000_123_456_789)
    assert Formatter("h").ocsf(rec)["time"] == 1_700_000_000_123
    rec2 = AlertRecord("i", {**s, "time_ns": 1_750_000_000_000_000_000}, "/c", b"", spooled_ns=1)
    assert Formatter("h").ocsf(rec2)["time"] == 1_750_000_000_000


def test_severity_policy_override_and_explicit_severity() -> None:
    rec = AlertRecord("i", summary(1), "/c", b"", time.time_ns())
    assert Formatter("h").ocsf(rec)["severity_id"] == 3
    assert Formatter("h", {"UNKNOWN_DESTINATION": "critical"}).ocsf(rec)["severity_id"] == 5
    rec.summary["severity"] = "low"
    assert Formatter("h", {"UNKNOWN_DESTINATION": "critical"}).ocsf(rec)["severity_id"] == 2
