"""``h7 replay``: run the detection engine over a recorded journal.

Replay is the same engine as ``h7 attach`` minus the kernel: every alert a
live run would have raised, a replay of its journal raises again, in the
same order and with the same evidence (except what only /proc could tell at
the time, which replay never reads: the pids in a journal are not this
host's pids any more).
"""

from __future__ import annotations

import dataclasses
import json
import sys

import click

from h7._click import DURATION
from h7.alert import Alert
from h7.config import NS_PER_S, EngineConfig, format_duration

__all__ = ["COMMANDS"]


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


@click.command("replay")
@click.argument("journal", type=click.Path(dir_okay=False))
@click.option("--baseline", "baseline_ns", type=DURATION, default=None, help="Baseline length (default 30s).")
@click.option(
    "--baseline-from",
    type=click.Path(exists=True, dir_okay=False),
    help="Monitor from the first batch with this saved baseline instead of learning one.",
)
@click.option("--save-baseline", type=click.Path(dir_okay=False), help="Write the learned baseline here.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per alert, with its syscall trace.")
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="TOML file; uses its [detect]."
)
def replay(
    journal: str,
    baseline_ns: int | None,
    baseline_from: str | None,
    save_baseline: str | None,
    as_json: bool,
    config_path: str | None,
) -> None:
    """Replay JOURNAL through the detection engine and print its alerts."""
    # the engine pulls in numpy/scipy: import it here, not when the CLI starts
    from h7.config import load
    from h7.detect.engine import BaselineError, Engine
    from h7.journal import JournalError, JournalReader

    cfg = load(config_path).detect if config_path is not None else EngineConfig()
    with JournalReader(journal) as reader:
        hdr = reader.header
        config = dataclasses.replace(
            cfg,
            read_proc=False,
            batch_ns=hdr.batch_ns or cfg.batch_ns,
            baseline_ns=cfg.baseline_ns if baseline_ns is None else baseline_ns,
        )

        def show(a: Alert) -> None:
            if as_json:
                rec = a.summary()
                rec["syscall_trace"] = a.syscall_trace
                click.echo(json.dumps(rec, sort_keys=True, default=str))
            else:
                click.echo(format_alert(a, hdr.start_ns))

        engine = Engine(config, hdr.agents, on_alert=show)
        if baseline_from:
            engine.load_baseline(baseline_from)
        for n_batch, batch in enumerate(reader, 1):
            try:
                engine.process(batch)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as e:
                # The journal is input: an event missing a field the engine needs is a bad
                # journal, said in one line, not a traceback.
                raise JournalError(
                    f"{journal}: batch {n_batch} has events the engine cannot use ({type(e).__name__}: {e})"[
                        :300
                    ]
                ) from None
            # An agent dropped from a multi-agent journal is worth a line; the
            # run goes on with the others (a strict engine raises only when
            # none is left).
            for n in engine.take_notices():
                if n.level == "warning":
                    click.echo(f"h7: warning: {n}", err=True)
        if reader.truncated is not None:
            click.echo(f"h7: warning: {journal}: {reader.truncated.message()}", err=True)
        if engine.phase != "monitoring":
            covered = format_duration(max(0, engine.t_last - (engine.t_start or 0)))
            raise BaselineError(
                f"{journal} ends {covered} into the {format_duration(config.baseline_ns)} baseline: "
                "nothing was monitored (use a shorter --baseline or --baseline-from)"
            )
        if save_baseline:
            engine.save_baseline(save_baseline)
        st = engine.status()
        click.echo(
            f"h7 replay: {st['batches']} batches, {st['monitor_batches']} monitored, "
            f"{st['alerts']} alerts ({st['suppressed']} folded into other certificates)",
            err=True,
        )
    sys.stdout.flush()


COMMANDS: list[click.Command] = [replay]
