"""The channel registry: the one place that knows which detection channels and alert codes exist.

Each channel module (``h7/detect/channels/l*_*.py``) declares a
:class:`ChannelSpec` -- its name, its alert codes with their default severity
and title, the dataclass of its ``[detect.<name>]`` config sub-table, and how
to build one instance per agent -- and calls :func:`register`.  Everything
else derives from here: which codes an :class:`h7.alert.Alert` may carry,
config validation, the certificate schema's channel check, the sinkhole's
OCSF/syslog titles and severities, the demo's expectations.  So adding a
channel is one new module (plus its tests), and adding a code to a channel is
an edit of that channel's module only.

This module imports nothing heavy: the built-in channels (numpy and all) are
imported on the first question asked, not when a light process such as the
sinkhole imports the registry.  A channel defined outside ``h7/`` (a plug-in,
a test) is registered the same way, before the engine is built.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from h7.config import EngineConfig
    from h7.detect.channels.base import Channel

#: Modules that declare the built-in channels, imported lazily (see the module doc).
BUILTIN_MODULES = (
    "h7.detect.channels.l1_sched",
    "h7.detect.channels.l2_exec",
    "h7.detect.channels.l3_causal",
    "h7.detect.channels.l4_egress",
    "h7.detect.channels.l5_ptrace",
)
#: The severity names an alert code may default to (OCSF's, lower case).
SEVERITIES = ("informational", "low", "medium", "high", "critical")

_NAME_RE = re.compile(r"L[0-9]{1,2}")
_CODE_RE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")

S = TypeVar("S")


@dataclass(frozen=True)
class AlertCode:
    """One kind of alert: its code, how severe it is by default, and its one-line title.

    The title is what a SIEM shows (OCSF ``finding_info.title``, the syslog
    message); the severity is the default an operator can override per code in
    the sinkhole's ``[severity]`` table.
    """

    code: str
    severity: str
    title: str

    def __post_init__(self) -> None:
        if not _CODE_RE.fullmatch(self.code):
            raise ValueError(f"alert code {self.code!r} must be UPPER_SNAKE_CASE, at most 64 characters")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.code}: severity must be one of {', '.join(SEVERITIES)}")
        if not self.title:
            raise ValueError(f"{self.code}: a title is required")


@dataclass(frozen=True)
class ChannelSpec(Generic[S]):
    """What a channel declares about itself.

    ``settings`` is a dataclass whose fields are the keys of the channel's
    ``[detect.<name lower-case>]`` table, with their types and defaults (the
    only place those defaults are written); ``h7.config`` validates the table
    against it.  ``aliases`` maps older top-level ``[detect]`` spellings to a
    setting (kept so existing config files stay valid).  ``factory`` builds
    the per-agent instance from the engine's configuration.
    """

    name: str
    summary: str
    codes: tuple[AlertCode, ...]
    settings: type[S]
    factory: Callable[[EngineConfig], Channel]
    aliases: tuple[tuple[str, str], ...] = ()
    #: live set-up a channel starts before the sensor opens (``prepare``), so that work
    #: which reads the host (L2's index of its binaries) is not done on the batch path
    prepare: Callable[[EngineConfig], None] | None = None

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name):
            raise ValueError(f"channel name {self.name!r} must be L<number>")
        if not self.codes:
            raise ValueError(f"channel {self.name} declares no alert code")
        if not is_dataclass(self.settings):
            raise TypeError(f"channel {self.name}: settings must be a dataclass")
        keys = {f.name for f in fields(self.settings)}
        for _alias, target in self.aliases:
            if target not in keys:
                raise ValueError(f"channel {self.name}: alias for unknown setting {target!r}")

    @property
    def table(self) -> str:
        """The config sub-table's name: ``[detect.l2]`` for L2."""
        return self.name.lower()

    @property
    def code_names(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.codes)


_lock = threading.RLock()
_specs: dict[str, ChannelSpec[Any]] = {}
_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _lock:
        if _builtins_loaded:
            return
        _builtins_loaded = True  # set first: the modules call register() while importing
        for mod in BUILTIN_MODULES:
            importlib.import_module(mod)


def register(spec: ChannelSpec[S]) -> ChannelSpec[S]:
    """Add a channel; returns the spec so a module can write ``SPEC = register(ChannelSpec(...))``.

    Registering the same spec twice is a no-op (a module imported twice);
    a different channel under a taken name, or a code another channel
    already owns, is an error: codes name one kind of alert host-wide.
    """
    with _lock:
        old = _specs.get(spec.name)
        if old is not None:
            if old == spec:
                return spec
            raise ValueError(f"channel {spec.name} is already registered")
        owner = {c.code: s.name for s in _specs.values() for c in s.codes}
        for c in spec.codes:
            if c.code in owner:
                raise ValueError(f"alert code {c.code} already belongs to channel {owner[c.code]}")
        _specs[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a channel registered from outside ``h7/`` (tests); built-ins stay."""
    with _lock:
        _specs.pop(name, None)


@contextmanager
def registered(spec: ChannelSpec[S]) -> Iterator[ChannelSpec[S]]:
    """Register ``spec`` for the duration of a ``with`` block (tests, plug-in trials)."""
    _load_builtins()
    register(spec)
    try:
        yield spec
    finally:
        unregister(spec.name)


def _key(name: str) -> tuple[int, str]:
    return (int(name[1:]), name) if name[1:].isdigit() else (1 << 30, name)


def specs() -> list[ChannelSpec[Any]]:
    """Every registered channel, in channel-number order (L1, L2, ... L10)."""
    _load_builtins()
    with _lock:
        return [_specs[n] for n in sorted(_specs, key=_key)]


def names() -> list[str]:
    return [s.name for s in specs()]


def prepare(config: EngineConfig) -> None:
    """Start each configured channel's live set-up (``ChannelSpec.prepare``) before the sensor opens.

    Called by ``pipeline.run_source`` for a live run only, ahead of loading the BPF programs, so
    that work overlaps it and no batch waits for it (L2's index, docs/detection.md).
    """
    for name in config.channels:
        spec = get(name)
        if spec is not None and spec.prepare is not None:
            spec.prepare(config)


def get(name: str) -> ChannelSpec[Any] | None:
    _load_builtins()
    return _specs.get(name)


def codes() -> dict[str, tuple[str, ...]]:
    """``{"L1": ("DRIFT_DETECTED",), ...}``: the alert codes each channel may emit."""
    return {s.name: s.code_names for s in specs()}


def code(code_name: str) -> tuple[ChannelSpec[Any], AlertCode] | None:
    """The channel owning ``code_name`` and its declaration, or None for an unknown code."""
    for s in specs():
        for c in s.codes:
            if c.code == code_name:
                return s, c
    return None


def span(ns: list[str] | None = None) -> str:
    """Channels as operators read them in messages: ``L1-L5``, or a list if not contiguous.

    ``ns`` defaults to every registered channel.
    """
    ns = sorted(ns, key=_key) if ns is not None else names()
    if not ns:
        return "no channel"
    nums = [int(n[1:]) for n in ns]
    if len(ns) > 2 and nums == list(range(nums[0], nums[0] + len(nums))):
        return f"{ns[0]}-{ns[-1]}"
    return ", ".join(ns)
