"""The .cal container, the signed message, the body schema, signing and verification.

docs/cal-format.md is the normative description; this module is the
reference implementation of it.  The order of operations in
:func:`verify_bytes` is the security argument: the container is split by
fixed offsets, the signature is checked over the exact stored bytes, and
only bytes that an H7 key signed are ever handed to the msgpack parser.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from h7 import registry
from h7.cal import canonical
from h7.cal.keys import key_id, load_public_key
from h7.errors import VerificationError
from h7.safeio import read_regular

MAGIC = b"H7CAL\x00\x00\x01"  # 5 ASCII bytes, NUL, container version 1 (u16 big-endian)
HEADER_LEN = 12  # magic (8) + body length (u32 big-endian)
SIG_LEN = 64
MAX_BODY = 16 * 1024 * 1024
MAX_FILE = HEADER_LEN + MAX_BODY + SIG_LEN
PAYLOAD_TYPE = "application/vnd.h7.cal.v1+msgpack"
FORMAT_VERSION = 1
ZERO_HASH = bytes(32)
SUFFIX = ".cal"

ALERT_EMITTED = "ALERT_EMITTED"
CONTAINED_BY_OPERATOR = "CONTAINED_BY_OPERATOR"
RELEASED_BY_OPERATOR = "RELEASED_BY_OPERATOR"
# Lifecycle records: the sensor signs its own start, clean stop, the recovery
# from a previous run that ended without a stop record (crash, kill -9, power
# loss), and detections it could not certify (a gap), so that downtime and
# missing evidence are visible in the chain rather than only in a log.
SENSOR_STARTED = "SENSOR_STARTED"
SENSOR_STOPPED = "SENSOR_STOPPED"
SENSOR_RECOVERED = "SENSOR_RECOVERED"
DETECTIONS_UNCERTIFIED = "DETECTIONS_UNCERTIFIED"
#: what an agent's baseline made allowed that no operator rule allows (L4 destinations it
#: connected to while the sensor learnt): signed when the baseline ends, so nothing an attacker
#: did during it is learnt without a trace (red-team round 6, g1r6_baseline_held_socket)
BASELINE_LEARNT = "BASELINE_LEARNT"
OPERATOR_ACTIONS = (CONTAINED_BY_OPERATOR, RELEASED_BY_OPERATOR)
LIFECYCLE_ACTIONS = (
    SENSOR_STARTED,
    SENSOR_STOPPED,
    SENSOR_RECOVERED,
    DETECTIONS_UNCERTIFIED,
    BASELINE_LEARNT,
)
#: an operator accepted (allowlisted) what an agent does, e.g. an L4 destination (``h7 accept``)
ACCEPTED_BY_OPERATOR = "ACCEPTED_BY_OPERATOR"
ACTIONS = (ALERT_EMITTED, *OPERATOR_ACTIONS, ACCEPTED_BY_OPERATOR, *LIFECYCLE_ACTIONS)

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1
_CODE_RE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_KEY_ID_RE = re.compile(r"[0-9a-f]{16}")


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: the exact message Ed25519 signs.

    Binding the payload type into the signed bytes means an H7 key's
    signature over a .cal body can never be replayed as a signature over
    some other kind of document that happens to share the bytes.
    """
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def cert_hash(data: bytes) -> bytes:
    """The chain hash of a certificate: SHA-256 of the whole file (header, body, signature)."""
    return hashlib.sha256(data).digest()


def file_name(seq: int) -> str:
    """Names are the sequence number so the next slot is found without listing the directory."""
    return f"{seq:012d}{SUFFIX}"


def seq_from_name(name: str) -> int | None:
    m = re.fullmatch(r"([0-9]{12,20})\.cal", name)
    return int(m.group(1)) if m else None


# ------------------------------------------------------------------ schema

Check = Callable[[Any], bool]


def _is_int(lo: int, hi: int) -> Check:
    return lambda v: type(v) is int and lo <= v <= hi


def _is_str(v: Any) -> bool:
    return type(v) is str


def _is_nonempty_str(v: Any) -> bool:
    return type(v) is str and 0 < len(v) <= 4096


def _is_float(v: Any) -> bool:
    return type(v) is float


def _is_map(v: Any) -> bool:
    return type(v) is dict


def _is_list(v: Any) -> bool:
    return type(v) is list


def _is_agent(v: Any) -> bool:
    return (
        type(v) is dict
        and set(v) == {"cmdline", "exe", "root_pid", "start_time_ns"}
        and type(v["exe"]) is str
        and type(v["cmdline"]) is list
        and all(type(a) is str for a in v["cmdline"])
        and _is_int(0, _INT64_MAX)(v["root_pid"])
        and _is_int(_INT64_MIN, _UINT64_MAX)(v["start_time_ns"])
    )


def _is_drops(v: Any) -> bool:
    return type(v) is dict and all(_is_int(0, _UINT64_MAX)(n) for n in v.values())


def _is_operator(v: Any) -> bool:
    return (
        type(v) is dict
        and set(v) == {"login", "uid"}
        and type(v["login"]) is str
        and _is_int(0, 2**32 - 1)(v["uid"])
    )


#: what an L4 accept's ``protocol`` may name (h7.detect.channels.l4_egress.RULE_PROTOCOLS)
ACCEPT_PROTOCOLS = ("tcp", "udp", "udplite", "sctp", "icmp", "raw", "any")


def _is_accept(v: Any) -> bool:
    """``{channel, key}`` (records signed before accepts named a protocol: still valid, read
    as protocol-blind as they were applied), or ``{channel, key, protocol}``."""
    return (
        type(v) is dict
        and (
            set(v) == {"channel", "key"}
            or (set(v) == {"channel", "key", "protocol"} and v["protocol"] in ACCEPT_PROTOCOLS)
        )
        and type(v["channel"]) is str
        and registry.get(v["channel"]) is not None
        and _is_nonempty_str(v["key"])
    )


def _is_sensor(v: Any) -> bool:
    return (
        type(v) is dict
        and set(v) == {"boot_id", "pid", "start_ticks", "version"}
        and _is_int(0, 2**32 - 1)(v["pid"])
        and _is_int(0, _UINT64_MAX)(v["start_ticks"])
        and type(v["boot_id"]) is str
        and type(v["version"]) is str
    )


_COMMON: dict[str, Check] = {
    "version": lambda v: v == FORMAT_VERSION and type(v) is int,
    "action": lambda v: v in ACTIONS and type(v) is str,
    "seq": _is_int(1, _UINT64_MAX),
    "prev_hash": lambda v: type(v) is bytes and len(v) == 32,
    "key_id": lambda v: type(v) is str and _KEY_ID_RE.fullmatch(v) is not None,
    "host": _is_str,
    "agent_id": _is_str,
    "ts_ns": _is_int(_INT64_MIN, _INT64_MAX),
    "sign_time_ns": _is_int(_INT64_MIN, _INT64_MAX),
}

SCHEMA: dict[str, dict[str, Check]] = {
    ALERT_EMITTED: {
        **_COMMON,
        "channel": lambda v: type(v) is str and registry.get(v) is not None,
        "code": lambda v: type(v) is str and _CODE_RE.fullmatch(v) is not None,
        "divergence": _is_float,
        "threshold": _is_float,
        "alert_key": _is_str,
        "suppressed": _is_int(0, _UINT64_MAX),
        "evidence": _is_map,
        "syscall_trace": _is_list,
        "agent": _is_agent,
        "drops": _is_drops,
    },
    CONTAINED_BY_OPERATOR: {
        **_COMMON,
        "operator": _is_operator,
        "reason": _is_nonempty_str,
        "containment": _is_map,
    },
    RELEASED_BY_OPERATOR: {
        **_COMMON,
        "operator": _is_operator,
        "reason": _is_nonempty_str,
        "containment": _is_map,
    },
    ACCEPTED_BY_OPERATOR: {
        **_COMMON,
        "operator": _is_operator,
        "reason": _is_nonempty_str,
        "accept": _is_accept,
    },
}
# Every lifecycle record names the sensor run that signed it (``sensor``), says
# why in one line (``reason``) and carries free-form canonical ``details``;
# a gap record also says how many detections have no certificate.
_LIFECYCLE: dict[str, Check] = {
    **_COMMON,
    "sensor": _is_sensor,
    "reason": _is_nonempty_str,
    "details": _is_map,
}
SCHEMA.update(
    {a: dict(_LIFECYCLE) for a in (SENSOR_STARTED, SENSOR_STOPPED, SENSOR_RECOVERED, BASELINE_LEARNT)}
)
SCHEMA[DETECTIONS_UNCERTIFIED] = {**_LIFECYCLE, "count": _is_int(1, _UINT64_MAX)}


def check_schema(body: Any) -> None:
    """Exactly the fields of the body's version and action, each of the right type.

    Unknown fields are rejected rather than ignored: a field a verifier does
    not understand is a field it cannot vouch for.  New fields mean a new
    version.
    """
    if type(body) is not dict:
        raise VerificationError("body: not a msgpack map")
    version = body.get("version")
    if version != FORMAT_VERSION or type(version) is not int:
        raise VerificationError(f"body: unknown format version {version!r}")
    action = body.get("action")
    schema = SCHEMA.get(action) if type(action) is str else None
    if schema is None:
        raise VerificationError(f"body: unknown action {action!r}")
    missing = sorted(set(schema) - set(body))
    extra = sorted(set(body) - set(schema))
    if missing:
        raise VerificationError(f"body: missing field(s) {', '.join(missing)} for {action}")
    if extra:
        raise VerificationError(f"body: unknown field(s) {', '.join(extra)} for {action}")
    for name, ok in schema.items():
        if not ok(body[name]):
            raise VerificationError(f"body: field {name!r} has an invalid value")


# ------------------------------------------------------------- certificate


@dataclass(frozen=True)
class Certificate:
    """A verified certificate: the exact file bytes and the decoded body."""

    raw: bytes
    body: dict[str, Any]

    @property
    def body_bytes(self) -> bytes:
        return self.raw[HEADER_LEN:-SIG_LEN]

    @property
    def signature(self) -> bytes:
        return self.raw[-SIG_LEN:]

    @property
    def hash(self) -> bytes:
        return cert_hash(self.raw)

    @property
    def version(self) -> int:
        return int(self.body["version"])

    @property
    def action(self) -> str:
        return str(self.body["action"])

    @property
    def seq(self) -> int:
        return int(self.body["seq"])

    @property
    def prev_hash(self) -> bytes:
        return bytes(self.body["prev_hash"])

    @property
    def key_id(self) -> str:
        return str(self.body["key_id"])

    @property
    def agent_id(self) -> str:
        return str(self.body["agent_id"])

    @property
    def host(self) -> str:
        return str(self.body["host"])

    @property
    def ts_ns(self) -> int:
        return int(self.body["ts_ns"])


def pack_container(body_bytes: bytes, signature: bytes) -> bytes:
    if len(signature) != SIG_LEN:
        raise ValueError("an Ed25519 signature is 64 bytes")
    if not 0 < len(body_bytes) <= MAX_BODY:
        raise ValueError(f"body must be 1..{MAX_BODY} bytes")
    return MAGIC + len(body_bytes).to_bytes(4, "big") + body_bytes + signature


def sign_body(body: dict[str, Any], private_key: Ed25519PrivateKey) -> bytes:
    """Encode ``body`` canonically and return the complete .cal file bytes.

    The body is schema-checked first so that H7 never signs something its
    own verifier would reject.
    """
    try:
        check_schema(body)
    except VerificationError as e:
        raise ValueError(f"refusing to sign an invalid body: {e}") from None
    if body["key_id"] != key_id(private_key.public_key()):
        raise ValueError("body key_id does not match the signing key")
    body_bytes = canonical.encode(body)
    return pack_container(body_bytes, private_key.sign(pae(PAYLOAD_TYPE, body_bytes)))


def split_container(data: bytes) -> tuple[bytes, bytes]:
    """(body, signature) from a container, checking only framing; no parsing of the body."""
    n = len(data)
    if n < HEADER_LEN + 1 + SIG_LEN:
        raise VerificationError(f"file too short for a certificate ({n} bytes)")
    if n > MAX_FILE:
        raise VerificationError(f"file too large for a certificate ({n} bytes)")
    if data[:8] != MAGIC:
        if data[:5] == MAGIC[:5]:
            raise VerificationError("unsupported .cal container version")
        raise VerificationError("not a .cal certificate (bad magic)")
    body_len = int.from_bytes(data[8:12], "big")
    if body_len != n - HEADER_LEN - SIG_LEN:
        raise VerificationError(
            f"length field says {body_len} body bytes but the file holds {n - HEADER_LEN - SIG_LEN}"
            " (truncated or trailing bytes)"
        )
    return data[HEADER_LEN : n - SIG_LEN], data[n - SIG_LEN :]


def verify_bytes(data: bytes, public_key: Ed25519PublicKey) -> Certificate:
    """Verify-then-parse.  Every failure is a VerificationError with a one-line reason."""
    data = bytes(data)
    body_bytes, signature = split_container(data)
    try:
        public_key.verify(signature, pae(PAYLOAD_TYPE, body_bytes))
    except InvalidSignature:
        raise VerificationError(
            f"signature does not verify with key {key_id(public_key)} (tampered, or signed by another key)"
        ) from None
    # From here on the bytes are authentic; what remains is refusing anything
    # that is not exactly what a correct H7 would have written.
    body = canonical.decode(body_bytes)
    try:
        again = canonical.encode(body)
    except (TypeError, ValueError):
        raise VerificationError("body: cannot be re-encoded canonically") from None
    if again != body_bytes:
        raise VerificationError("body: not in canonical form (re-encoding differs)")
    check_schema(body)
    if body["key_id"] != key_id(public_key):
        raise VerificationError(
            f"key_id in body is {body['key_id']}, but the signature verified with key {key_id(public_key)}"
        )
    return Certificate(raw=data, body=body)


def verify_file(
    path_or_bytes: Path | str | bytes, public_key: Ed25519PublicKey | Path | str | bytes
) -> Certificate:
    """Verify a certificate file (or its bytes) against one public key."""
    pub = load_public_key(public_key)
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        return verify_bytes(bytes(path_or_bytes), pub)
    path = Path(path_or_bytes)
    try:
        data = read_regular(path, MAX_FILE, "certificate", VerificationError)
    except OSError as e:
        raise VerificationError(f"{path}: cannot read: {e.strerror}") from None
    return verify_bytes(data, pub)


# ------------------------------------------------------------ human output


def _fmt_ns(ns: int) -> str:
    import datetime as _dt

    try:
        t = _dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=_dt.UTC)
    except (OverflowError, OSError, ValueError):
        return str(ns)
    return f"{ns} ({t.strftime('%Y-%m-%dT%H:%M:%S')}.{ns % 1_000_000_000:09d}Z)"


def _short(v: Any, limit: int = 200) -> str:
    s = v.hex() if isinstance(v, bytes) else repr(v)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def describe(cert: Certificate) -> list[str]:
    """Lines for ``h7 show``: what an auditor reads, every field, nothing hidden."""
    b = cert.body
    lines = [
        f"certificate   seq {cert.seq}  {cert.action}  (format v{cert.version}, signature valid)",
        f"sha256        {cert.hash.hex()}",
        f"prev_hash     {cert.prev_hash.hex()}{'  (first in chain)' if cert.prev_hash == ZERO_HASH else ''}",
        f"key_id        {cert.key_id}",
        f"host          {b['host']}",
        f"agent_id      {b['agent_id']}",
        f"ts_ns         {b['ts_ns']}",
        f"signed at     {_fmt_ns(b['sign_time_ns'])}",
    ]
    if cert.action == ALERT_EMITTED:
        agent = b["agent"]
        lines += [
            f"channel       {b['channel']}  code {b['code']}",
            f"divergence    {b['divergence']!r}  (threshold {b['threshold']!r})",
            f"alert key     {b['alert_key']}  (suppressed repeats: {b['suppressed']})",
            f"agent exe     {agent['exe']}",
            f"agent cmdline {' '.join(repr(a) if (' ' in a or not a) else a for a in agent['cmdline'])}",
            f"agent root    pid {agent['root_pid']}  start_time_ns {agent['start_time_ns']}",
            "drops         "
            + (", ".join(f"{k}={v}" for k, v in b["drops"].items()) or "none")
            + ("  (EVIDENCE MAY BE INCOMPLETE)" if any(b["drops"].values()) else ""),
            "evidence:",
        ]
        lines += [f"  {k}: {_short(v)}" for k, v in b["evidence"].items()] or ["  (none)"]
        lines.append(f"syscall_trace ({len(b['syscall_trace'])} events, oldest first):")
        lines += [f"  {_short(ev)}" for ev in b["syscall_trace"]]
    elif cert.action == ACCEPTED_BY_OPERATOR:
        op = b["operator"]
        lines += [
            f"operator      {op['login']} (uid {op['uid']})",
            f"reason        {b['reason']}",
            f"accepted      {b['accept']['channel']} {b['accept']['key']}"
            + (
                f" ({b['accept'].get('protocol', 'any protocol: signed before accepts named one')})"
                if b["accept"]["channel"] == "L4"
                else " (an alert key)"
            ),
        ]
    elif cert.action in LIFECYCLE_ACTIONS:
        sensor = b["sensor"]
        lines += [
            f"sensor        pid {sensor['pid']}  start_ticks {sensor['start_ticks']}"
            f"  boot {sensor['boot_id']}  h7 {sensor['version']}",
            f"reason        {b['reason']}",
        ]
        if cert.action == DETECTIONS_UNCERTIFIED:
            lines.append(f"uncertified   {b['count']} detection(s) have no certificate")
        lines.append("details:")
        lines += [f"  {k}: {_short(v)}" for k, v in b["details"].items()] or ["  (none)"]
    else:
        op = b["operator"]
        lines += [
            f"operator      {op['login']} (uid {op['uid']})",
            f"reason        {b['reason']}",
            "containment:",
        ]
        lines += [f"  {k}: {_short(v)}" for k, v in b["containment"].items()] or ["  (none)"]
    return lines
