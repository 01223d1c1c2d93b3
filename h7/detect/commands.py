"""``h7 replay``: run a recorded journal through the same pipeline as ``h7 attach`` (``h7.detect.replay``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from h7._click import DURATION
from h7.config import EngineConfig

__all__ = ["COMMANDS"]


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
    # the engine pulls in numpy: import the pipeline here, not when the CLI starts
    from h7.config import load
    from h7.detect.replay import run_replay

    engine = run_replay(
        journal,
        load(config_path).detect if config_path is not None else EngineConfig(),
        baseline_ns=baseline_ns,
        baseline_from=Path(baseline_from) if baseline_from else None,
        save_baseline=Path(save_baseline) if save_baseline else None,
        as_json=as_json,
    )
    st = engine.status()
    click.echo(
        f"h7 replay: {st['batches']} batches, {st['monitor_batches']} monitored, "
        f"{st['alerts']} alerts ({st['suppressed']} folded into other certificates)",
        err=True,
    )
    sys.stdout.flush()


COMMANDS: list[click.Command] = [replay]
