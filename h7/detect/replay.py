"""``h7 replay``: a recorded journal through the pipeline ``h7 attach`` runs.

Replay is ``h7 attach`` with a journal for the kernel: the same
:func:`h7.pipeline.run_source` feeds the same engine from a
:class:`h7.source.JournalSource`, so every alert a live run would have
raised, a replay of its journal raises again, in the same order and with the
same evidence (except what only /proc could tell at the time, which replay
never reads: the pids in a journal are not this host's pids any more).  Only
the end of the path differs: a replay prints its alerts (:class:`AlertPrinter`)
where a live run signs and delivers them (:class:`h7.pipeline.AlertPath`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from h7.alert import Alert
from h7.config import NS_PER_S, EngineConfig
from h7.detect.engine import Engine
from h7.journal import JournalHeader
from h7.pipeline import AlertOutput, Terminal, run_source
from h7.source import JournalSource


def format_alert(a: Alert, start_ns: int) -> str:
    rel = (a.ts_ns - start_ns) / NS_PER_S
    sup = f" (+{a.suppressed} suppressed)" if a.suppressed else ""
    ev = json.dumps(a.evidence, sort_keys=True, default=str)
    if len(ev) > 600:
        ev = ev[:597] + "..."
    return (
        f"+{rel:9.3f}s {a.channel} {a.code} agent={a.agent_id} "
        f"divergence={a.divergence:.4g} threshold={a.threshold:.4g} key={a.key}{sup} {ev}"
    )


def replay_config(cfg: EngineConfig, header: JournalHeader, baseline_ns: int | None = None) -> EngineConfig:
    """The engine settings a replay of a journal with ``header`` runs with.

    Never /proc (the journal's pids are another time's), the recorder's batch
    length (the batches are already cut), and the operator's baseline length.
    """
    return dataclasses.replace(
        cfg,
        read_proc=False,
        batch_ns=header.batch_ns or cfg.batch_ns,
        baseline_ns=cfg.baseline_ns if baseline_ns is None else baseline_ns,
    )


class AlertPrinter(AlertOutput):
    """The end of a replay's path: each alert on stdout, in journal time, as it is raised.

    ``as_json`` prints what a certificate would carry (the alert's summary and
    its syscall trace), one object a line; otherwise one readable line with
    the time since the journal started.
    """

    def __init__(self, start_ns: int, as_json: bool) -> None:
        super().__init__()
        self.start_ns = start_ns
        self.as_json = as_json

    def __call__(self, alert: Alert) -> None:
        self.counters["alerts"] += 1
        if self.as_json:
            rec = alert.summary()
            rec["syscall_trace"] = alert.syscall_trace
            click.echo(json.dumps(rec, sort_keys=True, default=str))
        else:
            click.echo(format_alert(alert, self.start_ns))


def run_replay(
    journal: str,
    cfg: EngineConfig,
    *,
    baseline_ns: int | None = None,
    baseline_from: Path | None = None,
    save_baseline: Path | None = None,
    as_json: bool = False,
) -> Engine:
    """Replay ``journal`` and print its alerts on stdout; returns the engine for its counters.

    Raises what the run raises: :class:`h7.journal.JournalError` for a bad
    journal, :class:`h7.detect.agents.BaselineError` for one that ends
    before the baseline does.  A journal cut short (``kill -9`` of the
    recorder) still replays up to its last whole batch, with a warning.
    """
    source = JournalSource(journal)
    try:
        hdr = source.header
        engine, _reason = run_source(
            source,
            replay_config(cfg, hdr, baseline_ns),
            AlertPrinter(hdr.start_ns, as_json),
            Terminal(False),
            baseline_from=baseline_from,
            save_baseline=save_baseline,
        )
    finally:
        source.close()  # run_source closed it, unless reading the header failed
        if source.truncated is not None:
            click.echo(f"h7: warning: {journal}: {source.truncated.message()}", err=True)
    return engine
