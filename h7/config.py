"""The configuration: one TOML file (``/etc/h7/h7.toml``), read and validated here and nowhere else.

The file is shared by the sensor (``[sensor]``, ``[detect]``, ``[[agent]]``)
and the sinkhole (``[sinkhole]``, ``[spool]``, ``[severity]``,
``[[output]]``), and every process that reads it validates all of it the
same way: an unknown table or key, or a value of the wrong type, is one
line naming the file, the table and the key (:class:`UsageError`, exit 2),
never a traceback, because a typo in an alerting config otherwise fails
silently at the worst moment.  Each setting's default is written once, as
the default of a dataclass field below (or, for a channel's own settings,
in that channel's module: see :mod:`h7.registry`).

Durations are accepted as strings (``"30s"``, ``"500ms"``, ``"2m"``) because
that is how operators write them, and stored as integer nanoseconds because
that is how the kernel clock counts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import tomllib
import types
import typing
import urllib.parse
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from h7 import registry
from h7.errors import UsageError
from h7.paths import (
    DEFAULT_CAL_DIR,
    DEFAULT_CONFIG,
    DEFAULT_KEY_PATH,
    DEFAULT_MAX_SPOOL_BYTES,
    DEFAULT_PUB_PATH,
    DEFAULT_SOCKET,
    DEFAULT_SPOOL_DIR,
    DEFAULT_STATUS_PATH,
)
from h7.safeio import read_regular_text

#: A config file is a page of settings; anything this large is a wrong path, not a config.
MAX_CONFIG_BYTES = 1024 * 1024

NS_PER_S = 1_000_000_000

T = TypeVar("T")

# --------------------------------------------------------------------------- durations
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|min|h)?\s*$")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "min": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S,
}


def parse_duration(value: str | int | float, *, default_unit: str = "s") -> int:
    """``"30s"``/``"500ms"``/``"2m"``/``1.5`` -> integer nanoseconds.

    A bare number is taken in ``default_unit`` (seconds), which is what a TOML
    ``baseline = 30`` means to a person.  Negative or malformed values raise
    UsageError so a typo in a config file is reported, not silently zero.
    """
    if isinstance(value, bool):
        raise UsageError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise UsageError(f"duration must not be negative: {value!r}")
        if value != value or value == float("inf"):
            raise UsageError(f"not a duration: {value!r}")
        return round(float(value) * _UNIT_NS[default_unit])
    m = _DURATION_RE.match(str(value))
    if not m:
        raise UsageError(f"not a duration: {value!r} (use e.g. 30s, 500ms, 2m)")
    unit = m.group(2) or default_unit
    return round(float(m.group(1)) * _UNIT_NS[unit])


def format_duration(ns: int) -> str:
    """Short human form of a nanosecond duration (for messages, not parsing)."""
    if ns % (60 * NS_PER_S) == 0 and ns >= 60 * NS_PER_S:
        return f"{ns // (60 * NS_PER_S)}m"
    if ns >= NS_PER_S:
        return f"{ns / NS_PER_S:g}s"
    return f"{ns / 1e6:g}ms"


# --------------------------------------------------------------------------- typed tables
def duration(default_ns: int, toml: str, *, old: str = "") -> Any:
    """A dataclass field holding integer ns, written in TOML as ``toml = "30s"`` (or ``<name> = ns``).

    ``old`` is the setting's previous name, still read (as ``old = "10s"`` or
    ``old_ns = 10000000000``) so existing files keep working.
    """
    return field(default=default_ns, metadata={"duration": True, "toml": toml, "old": old})


def _describe(hint: Any) -> str:
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if hint is Path:
        return "a path (a string)"
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is list:
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return f"a table of {_describe(args[1]).removeprefix('a ').removeprefix('an ')}s"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    return str(hint)


def _convert(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` (the TOML types onto the field's type), or raise TypeError."""
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise TypeError
    if hint is str:
        if isinstance(value, str):
            return value
        raise TypeError
    if hint is Path:
        if isinstance(value, str) and value:
            return Path(value)
        raise TypeError
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise TypeError
        return [_convert(v, args[0]) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError
        return {_convert(k, args[0]): _convert(v, args[1]) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a)
            except TypeError:
                continue
        raise TypeError
    raise TypeError


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def build(cls: type[T], table: Any, where: str, *, extra: dict[str, Any] | None = None) -> T:
    """An instance of the dataclass ``cls`` from a TOML table: every key a field, of the field's type.

    Fields whose metadata says ``duration`` are written as durations under
    their ``toml`` name (``baseline = "30s"`` fills ``baseline_ns``), or as
    integer ns under the field's own name.  ``extra`` are values already
    validated by the caller (sub-tables).  Errors name ``where`` and the key.
    """
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table")
    hints = _hints(cls)
    by_toml: dict[str, dataclasses.Field[Any]] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if not f.init or f.metadata.get("internal"):
            continue
        by_toml[f.metadata.get("toml", f.name)] = f
        if f.metadata.get("duration"):
            by_toml[f.name] = f
            if f.metadata.get("old"):
                by_toml[f.metadata["old"]] = f
                by_toml[f.metadata["old"] + "_ns"] = f
    kw: dict[str, Any] = dict(extra or {})
    for key, value in table.items():
        found = by_toml.get(key)
        if found is None:
            allowed = ", ".join(sorted(by_toml)) or "none"
            raise UsageError(f"{where}: unknown key {key!r} (allowed: {allowed})")
        f = found
        if f.name in kw:
            raise UsageError(f"{where}: {key!r} is given twice (as {f.name!r} too)")
        if f.metadata.get("duration"):
            if key.endswith("_ns"):  # integer nanoseconds
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise UsageError(f"{where}: {key!r} must be a non-negative integer of nanoseconds")
                kw[f.name] = value
            else:
                try:
                    kw[f.name] = parse_duration(value)
                except UsageError as e:
                    raise UsageError(f"{where}: {key!r}: {e}") from None
            continue
        try:
            kw[f.name] = _convert(value, hints[f.name])
        except TypeError:
            raise UsageError(
                f"{where}: {key!r} must be {_describe(hints[f.name])}, not {type(value).__name__} {value!r}"
            ) from None
    try:
        return cls(**kw)
    except UsageError as e:
        raise UsageError(f"{where}: {e}") from None
    except (TypeError, ValueError) as e:
        raise UsageError(f"{where}: {e}") from None


# --------------------------------------------------------------------------- [detect]
@dataclass
class EngineConfig:
    """Settings of the detection core (``[detect]``).

    ``thresholds`` overrides calibration: keys are a channel (``"L1"``) or a
    code (``"NET_EGRESS_BURST"``), values the divergence at which to alert.
    ``floors`` raise the minimum a calibrated threshold may take (same keys).
    ``channel_settings`` holds each channel's ``[detect.<channel>]`` table as
    the settings dataclass the channel declares (a plain dict is accepted and
    validated); channels read theirs with :meth:`settings`.
    """

    baseline_ns: int = duration(30 * NS_PER_S, "baseline")
    batch_ns: int = duration(NS_PER_S, "batch_interval")
    trace_len: int = 64
    # Alert folding (h7.detect.folding): a key (destination, binary...) stays "in use" while it
    # recurs within fold_idle; repeats fold into its one certificate.  0: every repeat alerts.
    fold_idle_ns: int = duration(600 * NS_PER_S, "fold_idle", old="rate_limit")
    # Storms: individual certificates per agent per batch; the rest collapse into one
    # aggregated certificate per channel per batch.  0: no storm collapse.
    storm_burst: int = 5
    # The per-batch judges' keys (L1 sched, L3 structure, L4 egress) name a whole channel's
    # drift: their verdicts fold only while the drift goes on, with gaps shorter than this.
    fold_gap_ns: int = duration(30 * NS_PER_S, "fold_gap")
    # A repeat this many times stronger (divergence/threshold) than the verdict its key was
    # last certified with is certified again (a new, stronger episode).  0: never.
    fold_escalation: float = 2.0
    # ... and a channel's aggregate closes early once a verdict comes this long after its first
    # (kernel time), so a held verdict waits about half a batch, not a whole one.  0: batch end only.
    storm_window_ns: int = duration(NS_PER_S // 2, "storm_window")
    storm_sample: int = 10
    fold_max_keys: int = 16384
    # Long windows (h7.detect.window): the CUSUM reference is the typical baseline batch
    # plus this many standard deviations of the baseline's own scores.
    window_ref_sigmas: float = 1.0
    # Per-batch false-alarm probability the calibration aims for, per channel.
    false_alarm_budget: float = 1e-3
    thresholds: dict[str, float] = field(default_factory=dict)
    floors: dict[str, float] = field(default_factory=dict)
    #: the channels to run; default: every registered channel
    channels: list[str] = field(default_factory=lambda: registry.names())
    # Baseline sanity: below this the model would be empty, not a baseline.
    min_baseline_syscalls: int = 50
    min_baseline_active_batches: int = 2
    # Live sensor: read /proc/<pid>/exe for content identity and attacker exe.
    # Replay turns it off: the pids of a journal are not this host's pids.
    read_proc: bool = True
    channel_settings: dict[str, Any] = field(default_factory=dict, metadata={"internal": True})

    def __post_init__(self) -> None:
        if self.baseline_ns <= 0:
            raise UsageError("baseline must be longer than 0")
        if self.batch_ns <= 0:
            raise UsageError("batch interval must be longer than 0")
        if self.trace_len < 0:
            raise UsageError("trace_len must be >= 0")
        if not 0.0 < self.false_alarm_budget < 0.5:
            raise UsageError("false_alarm_budget must be in (0, 0.5)")
        if self.fold_escalation < 0 or (0 < self.fold_escalation <= 1):
            raise UsageError("fold_escalation must be 0 (off) or greater than 1")
        if self.storm_burst < 0 or self.storm_sample < 0 or self.fold_max_keys < 1:
            raise UsageError("storm_burst and storm_sample must be >= 0, fold_max_keys >= 1")
        known = registry.names()
        bad = [c for c in self.channels if c not in known]
        if bad:
            raise UsageError(f"unknown detection channel(s): {', '.join(bad)} (known: {', '.join(known)})")
        codes = {c for cs in registry.codes().values() for c in cs}
        for what in ("thresholds", "floors"):
            for k in getattr(self, what):
                if k not in known and k not in codes:
                    raise UsageError(f"{what}: {k!r} is neither a channel nor an alert code")
        settings: dict[str, Any] = {}
        for name, value in self.channel_settings.items():
            spec = registry.get(name)
            if spec is None:
                raise UsageError(f"settings for unknown channel {name!r}")
            if isinstance(value, dict):
                value = build(spec.settings, value, f"[detect.{spec.table}]")
            elif not isinstance(value, spec.settings):
                raise UsageError(f"settings for {name} must be a {spec.settings.__name__}")
            settings[name] = value
        for spec in registry.specs():
            if spec.name not in settings:
                settings[spec.name] = spec.settings()
        self.channel_settings = settings

    def settings(self, kind: type[T]) -> T:
        """The ``[detect.<channel>]`` settings of the channel that declared ``kind``.

        Typed for the channel reading them (``config.settings(L2Settings).allow``);
        a channel registered after this config was built gets its defaults.
        """
        for v in self.channel_settings.values():
            if type(v) is kind:
                return v
        return kind()

    def threshold_override(self, channel: str, code: str) -> float | None:
        """Operator threshold for a code, else for its channel, else None."""
        for k in (code, channel):
            if k in self.thresholds:
                return float(self.thresholds[k])
        return None

    def floor(self, channel: str, code: str, default: float) -> float:
        for k in (code, channel):
            if k in self.floors:
                return float(self.floors[k])
        return default

    @classmethod
    def from_dict(cls, table: Any, where: str = "[detect]") -> EngineConfig:
        """Build from the TOML ``[detect]`` table.

        A channel's settings are its sub-table (``[detect.l2] allow = [...]``)
        or, as older files spell them, ``l2_allow = [...]`` in ``[detect]``
        itself (and any alias the channel declares).  Unknown keys are an
        error, because a misspelt allowlist that silently does nothing is
        worse than a refusal.
        """
        if not isinstance(table, dict):
            raise UsageError(f"{where} must be a table")
        own: dict[str, Any] = {}
        subs: dict[str, dict[str, Any]] = {}
        flat: dict[str, tuple[str, str]] = {}
        for spec in registry.specs():
            for f in fields(spec.settings):
                flat[f"{spec.table}_{f.name}"] = (spec.name, f.name)
            for alias, target in spec.aliases:
                flat[alias] = (spec.name, target)
        tables = {spec.table: spec.name for spec in registry.specs()}
        for key, value in table.items():
            if key in tables:
                if not isinstance(value, dict):
                    raise UsageError(f"{where}: {key!r} must be a table ([detect.{key}])")
                sub = subs.setdefault(tables[key], {})
                for k, v in value.items():
                    if k in sub:
                        raise UsageError(f"{where}: {key}.{k} is given twice")
                    sub[k] = v
            elif key in flat:
                name, k = flat[key]
                sub = subs.setdefault(name, {})
                if k in sub:
                    raise UsageError(f"{where}: {key!r} is given twice")
                sub[k] = value
            else:
                own[key] = value
        settings: dict[str, Any] = {}
        for name, sub in subs.items():
            owner = registry.get(name)
            assert owner is not None
            settings[name] = build(owner.settings, sub, f"[detect.{owner.table}]")
        return build(cls, own, where, extra={"channel_settings": settings})


# --------------------------------------------------------------------------- [sensor]
@dataclass
class SensorConfig:
    """``[sensor]``: where the sensor keeps its key, certificates and status file."""

    key: Path = DEFAULT_KEY_PATH
    cal_dir: Path = DEFAULT_CAL_DIR
    status: Path = DEFAULT_STATUS_PATH
    #: alerts held in memory while the .cal directory refuses writes (h7.cal.lifecycle.Certifier)
    max_held_alerts: int = 1024
    #: nice levels `h7 attach` takes below the one it was started with (0: none); see
    #: h7.pipeline.boost_priority and docs/operations.md
    priority_boost: int = 4
    #: SCHED_FIFO priority of `h7 attach`'s main thread, the one that drains the rings and
    #: certifies (0: off, the default; the packaged /etc/h7/h7.toml sets 1); bounded by
    #: RLIMIT_RTTIME, see h7.pipeline.go_realtime and docs/operations.md
    realtime: int = 0

    def __post_init__(self) -> None:
        if self.max_held_alerts < 1:
            raise UsageError("'max_held_alerts' must be >= 1")
        if not 0 <= self.priority_boost <= 39:
            raise UsageError("'priority_boost' must be 0..39 (nice levels; 0 = off)")
        if not 0 <= self.realtime <= 99:
            raise UsageError("'realtime' must be 0..99 (a SCHED_FIFO priority; 0 = off)")


# --------------------------------------------------------------------------- sinkhole
@dataclass
class SinkholeSection:
    """``[sinkhole]``."""

    socket: Path = DEFAULT_SOCKET
    group: str | int | None = None
    dedup_window: int = 10000
    dead_letter: Path | None = None
    host: str | None = None
    device_type_id: int = 0
    #: public key(s) whose certificates the sinkhole accepts (the sensor hosts' h7.pub)
    pubkey: Path | list[Path] = DEFAULT_PUB_PATH
    max_connections_per_peer: int = 4
    idle_timeout: float = 60.0
    #: read by the sensor: a non-root uid the sinkhole may run as (root always may)
    uid: int | None = None

    def __post_init__(self) -> None:
        if self.dedup_window < 1:
            raise UsageError("'dedup_window' must be >= 1")
        if isinstance(self.pubkey, list) and not self.pubkey:
            raise UsageError("'pubkey' must name at least one public key file")
        if self.max_connections_per_peer < 1:
            raise UsageError("'max_connections_per_peer' must be >= 1")
        if self.idle_timeout <= 0:
            raise UsageError("'idle_timeout' must be > 0")
        if self.uid is not None and not 0 <= self.uid < 2**32:
            raise UsageError("'uid' must be 0..4294967295")


@dataclass
class SpoolSection:
    """``[spool]``: the sensor's durable queue of alerts for the sinkhole."""

    dir: Path = DEFAULT_SPOOL_DIR
    max_bytes: int = DEFAULT_MAX_SPOOL_BYTES

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise UsageError("'max_bytes' must be > 0")


#: The one output used when there is no config file at all.
DEFAULT_OUTPUT: dict[str, Any] = {"type": "stdout", "name": "stdout", "format": "h7"}


@dataclass
class SinkConfig:
    """Everything ``h7 sinkhole`` and the sensor's SinkClient read from the file.

    Built only by :func:`_sink_config` from ``[sinkhole]`` and ``[spool]`` (whose
    dataclasses hold the defaults, written once), so its fields have none of their own.
    """

    source: Path | None
    socket: Path
    group: str | int | None
    dedup_window: int
    dead_letter: Path | None
    host: str | None
    device_type_id: int
    spool_dir: Path
    spool_max_bytes: int
    pubkeys: list[Path]
    max_connections_per_peer: int
    idle_timeout: float
    uid: int | None
    severity: dict[str, str] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)


_NUM = (int, float)
#: an output key's accepted type(s) and how an error names them
_KeyType = tuple[type | tuple[type, ...], str]
_STR: _KeyType = (str, "a string")
_BOOL: _KeyType = (bool, "true or false")
_INT: _KeyType = (int, "an integer")
_NUMBER: _KeyType = (_NUM, "a number")
_STR_TABLE: _KeyType = (dict, "a table of strings")
_OUT_COMMON: dict[str, _KeyType] = {
    "type": _STR,
    "name": _STR,
    "format": _STR,
    "include_cal": _BOOL,
    "enabled": _BOOL,
}
_OUT_KEYS: dict[str, dict[str, _KeyType]] = {
    "stdout": {},
    "jsonl": {
        "path": (str, "a path"),
        "max_bytes": _INT,
        "backups": _INT,
        "fsync": _BOOL,
    },
    "syslog": {
        "transport": _STR,
        "address": _STR,
        "port": _INT,
        "facility": _STR,
        "app_name": _STR,
        "sd_id": _STR,
        "framing": _STR,
        "max_message_bytes": _INT,
        "timeout": _NUMBER,
    },
    "webhook": {
        "url": (str, "a URL"),
        "method": _STR,
        "headers": _STR_TABLE,
        "body": ((str, dict, list), "a JSON string or a table"),
        "timeout": _NUMBER,
        "retries": _INT,
        "backoff": _NUMBER,
        "backoff_max": _NUMBER,
    },
    "exec": {
        "command": ((list, str), "a list of strings"),
        "timeout": _NUMBER,
        "env": _STR_TABLE,
    },
}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _tuple(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def _check_keys(table: dict[str, Any], allowed: dict[str, _KeyType], where: str) -> None:
    for k, v in table.items():
        if k not in allowed:
            raise UsageError(f"{where}: unknown key {k!r} (allowed: {', '.join(sorted(allowed))})")
        typ, desc = allowed[k]
        # bool is an int in Python; "port = true" is still a mistake.
        if not isinstance(v, typ) or (isinstance(v, bool) and typ is not bool and bool not in _tuple(typ)):
            raise UsageError(f"{where}: {k!r} must be {desc}, not {type(v).__name__} {v!r}")


def _expand_env(value: Any, where: str) -> Any:
    """``${NAME}`` from the sinkhole's environment, so secrets can stay out of the file."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                raise UsageError(
                    f"{where}: environment variable {name} (referenced as ${{{name}}}) is not set"
                )
            return os.environ[name]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand_env(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, where) for v in value]
    return value


def _positive(spec: dict[str, Any], key: str, where: str, allow_zero: bool = False) -> None:
    if key in spec and (spec[key] < 0 or (spec[key] == 0 and not allow_zero)):
        raise UsageError(f"{where}: {key!r} must be {'>= 0' if allow_zero else '> 0'}")


def _validate_output(i: int, raw: Any) -> dict[str, Any] | None:
    # The sink's vocabularies live with the code that uses them; imported here,
    # not at the top, so the sink modules may import this one.
    from h7.sink.formats import FORMATS, template_roots
    from h7.sink.outputs import FACILITIES
    from h7.sink.template import placeholders

    where = f"[[output]] #{i + 1}"
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: must be a table")
    kind = raw.get("type")
    if kind not in _OUT_KEYS:
        raise UsageError(f"{where}: 'type' must be one of {', '.join(_OUT_KEYS)}, not {kind!r}")
    where = f"[[output]] #{i + 1} ({kind})"
    _check_keys(raw, {**_OUT_COMMON, **_OUT_KEYS[kind]}, where)
    spec = dict(raw)
    if not spec.get("enabled", True):
        return None
    spec.setdefault("name", f"{kind}{i + 1}")
    fmt = spec.setdefault("format", DEFAULT_OUTPUT["format"])
    if fmt not in FORMATS:
        raise UsageError(f"{where}: 'format' must be one of {', '.join(FORMATS)}, not {fmt!r}")
    for key in ("timeout", "max_bytes", "max_message_bytes", "backoff", "backoff_max"):
        _positive(spec, key, where)
    for key in ("retries", "backups"):
        _positive(spec, key, where, allow_zero=True)
    if kind == "jsonl":
        if "path" not in spec:
            raise UsageError(f"{where}: 'path' is required")
        if not os.path.isabs(spec["path"]):
            raise UsageError(f"{where}: 'path' must be absolute, not {spec['path']!r}")
    elif kind == "syslog":
        if spec.get("transport", "unix") not in ("unix", "udp", "tcp"):
            raise UsageError(f"{where}: 'transport' must be unix, udp or tcp, not {spec['transport']!r}")
        if spec.get("facility", "auth") not in FACILITIES:
            raise UsageError(
                f"{where}: 'facility' must be one of {', '.join(FACILITIES)}, not {spec['facility']!r}"
            )
        if spec.get("framing", "octet-counting") not in ("octet-counting", "lf"):
            raise UsageError(f"{where}: 'framing' must be octet-counting or lf, not {spec['framing']!r}")
        if not 0 < spec.get("port", 514) < 65536:
            raise UsageError(f"{where}: 'port' must be 1..65535, not {spec['port']}")
        sd_id = spec.get("sd_id", "h7@32473")
        if not re.fullmatch(r"[!#-<>-\\^-~]{1,32}", sd_id) or "@" not in sd_id:
            raise UsageError(
                f"{where}: 'sd_id' must be an RFC 5424 SD-ID like name@<private enterprise number>"
            )
    elif kind == "webhook":
        spec = _expand_env(spec, where)
        if "url" not in spec:
            raise UsageError(f"{where}: 'url' is required")
        u = urllib.parse.urlsplit(spec["url"])
        if u.scheme not in ("http", "https") or not u.hostname:
            raise UsageError(f"{where}: 'url' must be an http:// or https:// URL with a host")
        if not all(isinstance(v, str) for v in spec.get("headers", {}).values()):
            raise UsageError(f"{where}: 'headers' values must be strings")
        body = spec.get("body")
        if isinstance(body, str):
            try:
                spec["body"] = body = json.loads(body)
            except ValueError as e:
                raise UsageError(f"{where}: 'body' is not valid JSON: {e}") from None
        for ref in placeholders(body):
            if ref.split(".")[0] not in template_roots():
                raise UsageError(f"{where}: 'body' refers to unknown field {{{{ {ref} }}}}")
    elif kind == "exec":
        cmd = spec.get("command")
        if cmd is None:
            raise UsageError(f"{where}: 'command' is required")
        if isinstance(cmd, str):
            try:
                cmd = shlex.split(cmd)
            except ValueError as e:
                raise UsageError(f"{where}: 'command': {e}") from None
        if not cmd or not all(isinstance(c, str) for c in cmd):
            raise UsageError(f"{where}: 'command' must be a non-empty list of strings")
        spec["command"] = cmd
        env = _expand_env(spec.get("env", {}), where)
        if not all(isinstance(v, str) for v in env.values()):
            raise UsageError(f"{where}: 'env' values must be strings")
        spec["env"] = env
    return spec


def _sink_config(data: dict[str, Any], source: Path | None) -> SinkConfig:
    from h7.sink.formats import SEVERITY_IDS

    sh = build(SinkholeSection, data.get("sinkhole", {}), "[sinkhole]")
    sp = build(SpoolSection, data.get("spool", {}), "[spool]")
    cfg = SinkConfig(
        source=source,
        socket=sh.socket,
        group=sh.group,
        dedup_window=sh.dedup_window,
        dead_letter=sh.dead_letter,
        host=sh.host,
        device_type_id=sh.device_type_id,
        pubkeys=list(sh.pubkey) if isinstance(sh.pubkey, list) else [sh.pubkey],
        max_connections_per_peer=sh.max_connections_per_peer,
        idle_timeout=sh.idle_timeout,
        uid=sh.uid,
        spool_dir=sp.dir,
        spool_max_bytes=sp.max_bytes,
    )
    sev = data.get("severity", {})
    if not isinstance(sev, dict):
        raise UsageError('[severity]: must be a table of CODE = "level"')
    for code, level in sev.items():
        if not isinstance(level, str) or level.lower() not in SEVERITY_IDS:
            raise UsageError(f"[severity]: {code} must be one of {', '.join(SEVERITY_IDS)}, not {level!r}")
        if registry.code(code) is None:
            raise UsageError(f"[severity]: {code!r} is not an alert code")
        cfg.severity[code] = level.lower()
    outs = data.get("output", [])
    if not isinstance(outs, list):
        raise UsageError("output: use [[output]] (an array of tables)")
    names: set[str] = set()
    for i, raw in enumerate(outs):
        spec = _validate_output(i, raw)
        if spec is None:
            continue
        if spec["name"] in names:
            raise UsageError(f"[[output]] #{i + 1}: duplicate output name {spec['name']!r}")
        names.add(spec["name"])
        cfg.outputs.append(spec)
    return cfg


# --------------------------------------------------------------------------- the file
@dataclass
class Config:
    """The whole file, validated: one typed section per reader."""

    source: Path | None = None
    sensor: SensorConfig = field(default_factory=SensorConfig)
    detect: EngineConfig = field(default_factory=EngineConfig)
    sink: SinkConfig = field(default_factory=lambda: _sink_config({}, None))
    #: ``[[agent]]`` tables, each parsed by :func:`h7.sensor.selectors.parse`
    agents: list[dict[str, Any]] = field(default_factory=list)


TABLES = ("sensor", "detect", "agent", "sinkhole", "spool", "severity", "output")


def parse(data: dict[str, Any], source: Path | None = None) -> Config:
    """Validate a parsed TOML document; every error names the file (if any), table and key."""
    try:
        unknown = sorted(k for k in data if k not in TABLES)
        if unknown:
            raise UsageError(
                f"unknown table(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(TABLES)})"
            )
        agents = data.get("agent", [])
        if not isinstance(agents, list) or not all(isinstance(a, dict) for a in agents):
            raise UsageError("agents are [[agent]] tables, one per agent")
        from h7.sensor.selectors import parse as parse_selector  # light: no BPF, no numpy

        for a in agents:
            parse_selector(a)
        return Config(
            source=source,
            sensor=build(SensorConfig, data.get("sensor", {}), "[sensor]"),
            detect=EngineConfig.from_dict(data.get("detect", {})),
            sink=_sink_config(data, source),
            agents=list(agents),
        )
    except UsageError as e:
        if source is None:
            raise
        raise UsageError(f"{source}: {e}") from None


def parse_text(text: str, source: Path | None = None) -> Config:
    """Parse and validate TOML text (tests, and :func:`load`)."""
    where = f"{source}: " if source is not None else ""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{where}invalid TOML: {e}") from None
    except RecursionError:
        raise UsageError(f"{where}invalid TOML: nested too deeply") from None
    return parse(data, source)


def load(path: Path | str | None = None) -> Config:
    """Read and validate the config file.

    With no explicit path a missing default file is fine (built-in defaults
    and a single stdout output); an explicit ``--config`` that does not exist
    is an error.
    """
    explicit = path is not None
    p = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        # a regular file only, opened without blocking (a FIFO given by mistake
        # must not hang the sensor's start-up), of bounded size, valid UTF-8
        text = read_regular_text(p, MAX_CONFIG_BYTES, "config")
    except FileNotFoundError:
        if explicit:
            raise UsageError(f"{p}: config file not found") from None
        cfg = Config()
        cfg.sink.outputs = [dict(DEFAULT_OUTPUT)]
        return cfg
    except OSError as e:
        raise UsageError(f"{p}: cannot read config: {e.strerror or e}") from None
    return parse_text(text, p)


def load_sink(path: Path | str | None = None, require_outputs: bool = True) -> SinkConfig:
    """The sinkhole's part of :func:`load`; refuses a file that sends alerts nowhere."""
    cfg = load(path)
    if require_outputs and not cfg.sink.outputs:
        raise UsageError(f"{cfg.source}: no [[output]] configured; alerts would go nowhere")
    return cfg.sink
