"""The channel registry: a channel declared outside h7/ flows through config, engine, .cal and OCSF.

The sixth channel below lives in this file only (no edit under h7/): a
canary-file channel that alerts when an agent opens a path the operator
planted.  It must be configurable from TOML (validated from its own
declaration), run in the engine next to L1-L5, produce a certificate that
verifies offline, and render as a valid OCSF Detection Finding with the
title and severity it declared.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_sink_ocsf import validate_detection_finding

from h7 import registry
from h7.alert import Alert
from h7.batch import Event
from h7.cal import CalWriter, keygen, verify_file
from h7.config import EngineConfig, parse_text
from h7.detect.channels.base import Channel, ChannelContext
from h7.detect.engine import Engine
from h7.errors import UsageError
from h7.journal import read_journal
from h7.sink.formats import AlertRecord, Formatter
from h7.sink.framing import alert_id

JOURNAL = Path(__file__).resolve().parent / "journals" / "benign.h7j"
CANARY = "/work/agent/src/utils.py"  # opened by the synthetic agent in the monitored part


@dataclass
class CanarySettings:
    """``[detect.l6]``: paths nobody should open."""

    canaries: list[str] = field(default_factory=list)


class CanaryChannel(Channel):
    name = "L6"

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        self.canaries = set(config.settings(CanarySettings).canaries)
        self.hits = 0

    def on_events(self, events: list[Event], ctx: ChannelContext) -> list[Alert]:
        out = []
        for ev in events:
            if ev.get("type") == "open" and ev.get("path") in self.canaries:
                self.hits += 1
                out.append(
                    ctx.alert(
                        "L6",
                        "CANARY_FILE_OPENED",
                        int(ev["ts_ns"]),
                        1.0,
                        1.0,
                        str(ev["path"]),
                        {"path": ev["path"]},
                    )
                )
        return out

    def status(self) -> dict[str, Any]:
        return {"state": "monitoring", "hits": self.hits}

    def to_state(self) -> dict[str, Any]:
        return {}

    def from_state(self, state: dict[str, Any]) -> None:
        self.baselined = True


L6 = registry.ChannelSpec(
    name="L6",
    summary="opens of operator-planted canary files",
    codes=(registry.AlertCode("CANARY_FILE_OPENED", "critical", "Agent opened a canary file"),),
    settings=CanarySettings,
    factory=CanaryChannel,
)


@pytest.fixture
def l6() -> Iterator[registry.ChannelSpec[CanarySettings]]:
    with registry.registered(L6) as spec:
        yield spec
    assert registry.get("L6") is None


def test_a_sixth_channel_flows_to_a_verified_certificate_and_an_ocsf_finding(
    l6: registry.ChannelSpec[CanarySettings], tmp_path: Path
) -> None:
    assert registry.names()[-1] == "L6" and registry.codes()["L6"] == ("CANARY_FILE_OPENED",)
    cfg = parse_text(f'[detect.l6]\ncanaries = ["{CANARY}"]\n[detect.l4]\nallow = ["127.0.0.1:8080"]\n')
    econf = EngineConfig(**{**cfg.detect.__dict__, "read_proc": False})
    assert "L6" in econf.channels and econf.settings(CanarySettings).canaries == [CANARY]
    header, batches, _ = read_journal(JOURNAL)
    priv, pub = keygen(tmp_path / "keys")
    emitted: list[tuple[Alert, Path, bytes]] = []
    with CalWriter(tmp_path / "cal", priv) as cal:

        def on_alert(a: Alert) -> None:
            path, data = cal.emit(a, header.agents[0], {})
            emitted.append((a, path, data))

        engine = Engine(econf, header.agents, on_alert=on_alert)
        for b in batches:
            engine.process(b)
    mine = [(a, p, d) for a, p, d in emitted if a.channel == "L6"]
    assert mine, [(a.channel, a.code) for a, _, _ in emitted]
    alert, path, data = mine[0]
    cert = verify_file(path, pub)
    assert cert.body["channel"] == "L6" and cert.body["code"] == "CANARY_FILE_OPENED"
    assert cert.body["evidence"]["path"] == CANARY
    s = {**alert.summary(), "host": cert.body["host"]}
    rec = AlertRecord(alert_id(s, data), s, str(path), data, time.time_ns())
    ev = Formatter("h").ocsf(rec)
    assert validate_detection_finding(ev) == []
    assert ev["finding_info"]["title"] == "Agent opened a canary file"
    assert ev["severity_id"] == 5  # critical, as declared
    # the status of the engine names it like any channel
    assert "L6" in next(iter(engine.status()["agents"].values()))["channels"]


def test_channel_declarations_are_checked(l6: registry.ChannelSpec[CanarySettings]) -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.ChannelSpec("L6", "x", L6.codes, CanarySettings, CanaryChannel))
    with pytest.raises(ValueError, match="already belongs to channel L2"):
        registry.register(
            registry.ChannelSpec(
                "L7",
                "x",
                (registry.AlertCode("LLM_AGENT_HIJACK", "high", "t"),),
                CanarySettings,
                CanaryChannel,
            )
        )
    with pytest.raises(ValueError, match="severity"):
        registry.AlertCode("X_Y", "dire", "t")
    with pytest.raises(ValueError, match="UPPER_SNAKE_CASE"):
        registry.AlertCode("lower", "high", "t")
    with pytest.raises(UsageError, match=r"\[detect.l6\]: 'canaries' must be a list of strings"):
        parse_text("[detect.l6]\ncanaries = 'x'\n")
    assert registry.span() == "L1-L6" and registry.span(["L1", "L2", "L5"]) == "L1, L2, L5"


def test_alerts_outside_the_registry_are_refused() -> None:
    with pytest.raises(ValueError, match="does not belong"):
        Alert("L6", "CANARY_FILE_OPENED", "a", 1, 0.0, 0.0, "k")
    with pytest.raises(ValueError, match="does not belong"):
        Alert("L1", "PTRACE_ATTACH_DETECTED", "a", 1, 0.0, 0.0, "k")


def test_titles_and_severities_come_from_the_declarations() -> None:
    for spec in registry.specs():
        for c in spec.codes:
            rec = AlertRecord("i", {"code": c.code, "channel": spec.name}, "/c", b"", time.time_ns())
            assert Formatter.title(rec) == c.title
            assert Formatter("h").native(rec)["severity"].lower() == c.severity
