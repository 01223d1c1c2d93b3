"""Detection configuration: the ``[detect]`` table of the TOML config, as a dataclass.

Everything the engine and the channels need to be told lives here, so a
replay can be run with exactly the settings of the live sensor that recorded
the journal.  Durations are accepted as strings (``"30s"``, ``"500ms"``,
``"2m"``) because that is how operators write them, and stored as integer
nanoseconds because that is how the kernel clock counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

import click

from h7.errors import UsageError

NS_PER_S = 1_000_000_000

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


class DurationType(click.ParamType):
    """click parameter type for ``--baseline 30s``; the value is integer ns."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_duration(value)
        except UsageError as e:
            self.fail(str(e), param, ctx)


DURATION = DurationType()

# Keys that are durations in the TOML table; the dataclass field holds ns.
_DURATION_KEYS = {
    "baseline": "baseline_ns",
    "batch_interval": "batch_ns",
    "fold_idle": "fold_idle_ns",
    "storm_window": "storm_window_ns",
    # the name before folding (h7 <= 0.x): a window within which repeats folded
    "rate_limit": "fold_idle_ns",
}


#: Daemons that run commands on request, by the comm of the listening process:
#: terminal multiplexers, container engines, the service manager, job schedulers,
#: and the relays that make a bind shell (socat/ncat EXEC listeners).
HANDOFF_DAEMONS = (
    "tmux: server",
    "screen",
    "SCREEN",
    "dockerd",
    "containerd",
    "podman",
    "systemd",
    "atd",
    "incrond",
    "supervisord",
    "zellij",
    "abduco",
    "dtach",
    "socat",
    "ncat",
)
#: Their usual sockets, for a listener whose comm was changed.
HANDOFF_SOCKETS = (
    "/tmp/tmux-*/*",
    "/run/screen/*",
    "/var/run/screen/*",
    "*/docker.sock",
    "*/containerd.sock",
    "*/podman.sock",
    "/run/systemd/private",
    "/run/user/*/systemd/private",
    "/run/dbus/system_bus_socket",
    "/var/run/dbus/system_bus_socket",
    "/run/user/*/bus",
    "*/supervisor.sock",
)
#: Daemons whose next children are attributed to the agent after a hand-off (their
#: children are the commands they were asked to run; systemd and container engines
#: start through intermediaries, so following them would attribute strangers).
HANDOFF_FOLLOW = ("tmux: server", "screen", "SCREEN", "zellij", "abduco", "dtach", "socat", "ncat")


@dataclass
class EngineConfig:
    """Settings of the detection core.

    ``thresholds`` overrides calibration: keys are a channel (``"L1"``) or a
    code (``"NET_EGRESS_BURST"``), values the divergence at which to alert.
    ``floors`` raise the minimum a calibrated threshold may take (same keys).
    """

    baseline_ns: int = 30 * NS_PER_S
    batch_ns: int = NS_PER_S
    trace_len: int = 64
    # Alert folding (h7.detect.folding): a key (destination, binary...) stays "in use" while it
    # recurs within fold_idle; repeats fold into its one certificate.  0: every repeat alerts.
    fold_idle_ns: int = 600 * NS_PER_S
    # Storms: individual certificates per agent per batch; the rest collapse into one
    # aggregated certificate per channel per batch.  0: no storm collapse.
    storm_burst: int = 5
    # ... and a channel's aggregate closes early once a verdict comes this long after its first
    # (kernel time), so a held verdict waits about half a batch, not a whole one.  0: batch end only.
    storm_window_ns: int = NS_PER_S // 2
    storm_sample: int = 10
    fold_max_keys: int = 16384
    # Per-batch false-alarm probability the calibration aims for, per channel.
    false_alarm_budget: float = 1e-3
    thresholds: dict[str, float] = field(default_factory=dict)
    floors: dict[str, float] = field(default_factory=dict)
    channels: list[str] = field(default_factory=lambda: ["L1", "L2", "L3", "L4", "L5"])
    # Baseline sanity: below this the model would be empty, not a baseline.
    min_baseline_syscalls: int = 50
    min_baseline_active_batches: int = 2
    # Live sensor: read /proc/<pid>/exe for content identity and attacker exe.
    # Replay turns it off: the pids of a journal are not this host's pids.
    read_proc: bool = True
    # L1
    l1_min_events: int = 40
    l1_pseudocount: float = 20.0
    # L2
    l2_allow: list[str] = field(default_factory=list)
    l2_extra_interpreters: list[str] = field(default_factory=list)
    l2_extra_lotl: list[str] = field(default_factory=list)
    l2_content_identity: bool = True
    l2_search_path: list[str] | None = None  # None: $PATH plus the standard bin dirs
    # Exec identity (docs/detection.md): agent-written files allowed to run (globs on the path).
    l2_written_allow: list[str] = field(default_factory=list)
    # Hand-offs: a unix connect whose listener has one of these comms, or whose bound
    # path matches one of these globs, is DAEMON_HANDOFF; listeners with a comm in
    # l2_handoff_follow have their children put in the agent's scope for l2_handoff_follow_s.
    l2_handoff_daemons: list[str] = field(default_factory=lambda: list(HANDOFF_DAEMONS))
    l2_handoff_sockets: list[str] = field(default_factory=lambda: list(HANDOFF_SOCKETS))
    l2_handoff_follow: list[str] = field(default_factory=lambda: list(HANDOFF_FOLLOW))
    l2_handoff_follow_s: float = 5.0
    l2_handoff_allow: list[str] = field(default_factory=list)
    # L3
    l3_min_cycle_images: int = 2
    # Baseline positions at most this novel (as a quantile) become "known" windows the
    # kernel stops shipping after the baseline; 0 ships everything.
    l3_known_quantile: float = 0.99
    l3_max_edges: int = 200_000
    # L4
    l4_allow: list[str] = field(default_factory=list)
    allow_baseline_destinations: bool = True
    l4_baseline_prefix_v4: int = 32
    l4_baseline_prefix_v6: int = 128
    # [low, high] ports that key as "ephemeral"; None: the host's ip_local_port_range
    l4_ephemeral_ports: list[int] | None = None

    def __post_init__(self) -> None:
        if self.baseline_ns <= 0:
            raise UsageError("baseline must be longer than 0")
        if self.batch_ns <= 0:
            raise UsageError("batch interval must be longer than 0")
        if self.storm_burst < 0 or self.storm_sample < 0 or self.fold_max_keys < 1:
            raise UsageError("storm_burst and storm_sample must be >= 0, fold_max_keys >= 1")
        if self.trace_len < 0:
            raise UsageError("trace_len must be >= 0")
        if not 0.0 < self.false_alarm_budget < 0.5:
            raise UsageError("false_alarm_budget must be in (0, 0.5)")
        if not 0.0 <= self.l2_handoff_follow_s <= 3600.0:
            raise UsageError("l2_handoff_follow_s must be in [0, 3600] seconds")
        long = [c for c in (*self.l2_handoff_daemons, *self.l2_handoff_follow) if len(c.encode()) > 15]
        if long:
            raise UsageError(f"l2 hand-off daemon names are process comms, 15 bytes at most: {long}")
        if not 0.0 <= self.l3_known_quantile < 1.0:
            raise UsageError("l3_known_quantile must be in [0, 1)")
        bad = [c for c in self.channels if c not in ("L1", "L2", "L3", "L4", "L5")]
        if bad:
            raise UsageError(f"unknown detection channel(s): {', '.join(bad)}")

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
    def from_dict(cls, table: dict[str, Any]) -> EngineConfig:
        """Build from the TOML ``[detect]`` table.

        Accepts durations as strings, and ``[detect.l2] allow = [...]`` /
        ``[detect.l4] allow = [...]`` sub-tables as spellings of
        ``l2_allow`` / ``l4_allow``.  Unknown keys are an error, because a
        misspelt allowlist that silently does nothing is worse than a refusal.
        """
        names = {f.name for f in fields(cls)}
        kw: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in table.items():
            if key in _DURATION_KEYS:
                kw[_DURATION_KEYS[key]] = parse_duration(value)
            elif key == "rate_limit_ns":  # the name before folding
                kw["fold_idle_ns"] = int(value)
            elif key.endswith("_ns") and key in names:
                kw[key] = int(value)
            elif key in ("l1", "l2", "l3", "l4", "l5") and isinstance(value, dict):
                for sub, v in value.items():
                    full = f"{key}_{sub}"
                    if full in names:
                        kw[full] = v
                    elif key == "l4" and sub == "allow_baseline_destinations":
                        kw[sub] = v
                    else:
                        unknown.append(f"{key}.{sub}")
            elif key in names:
                kw[key] = value
            else:
                unknown.append(key)
        if unknown:
            raise UsageError(f"unknown [detect] setting(s): {', '.join(sorted(unknown))}")
        for k in ("thresholds", "floors"):
            if k in kw:
                kw[k] = {str(a): float(b) for a, b in dict(kw[k]).items()}
        for k in (
            "l2_allow",
            "l2_extra_interpreters",
            "l2_extra_lotl",
            "l2_written_allow",
            "l2_handoff_daemons",
            "l2_handoff_sockets",
            "l2_handoff_follow",
            "l2_handoff_allow",
            "l4_allow",
            "channels",
        ):
            if k in kw:
                if isinstance(kw[k], str) or not isinstance(kw[k], list | tuple):
                    raise UsageError(f"[detect] {k} must be a list of strings")
                kw[k] = [str(x) for x in kw[k]]
        try:
            return cls(**kw)
        except TypeError as e:  # wrong value types
            raise UsageError(f"[detect]: {e}") from e

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v
        return out
