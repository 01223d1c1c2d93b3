"""`h7 demo`."""

from __future__ import annotations

from pathlib import Path

import click

from h7._click import DURATION


@click.command("demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/var/tmp/h7-demo"),
    show_default=True,
    help="Keys, certificates, logs and the agent's workspace.",
)
@click.option(
    "--baseline",
    "baseline_ns",
    type=DURATION,
    default="15s",
    show_default=True,
    help="How long the sensor learns the synthetic agent before judging it.",
)
@click.option(
    "--benign",
    "benign_ns",
    type=DURATION,
    default="8s",
    show_default=True,
    help="Normal work after the baseline that must raise no alert.",
)
@click.option(
    "--wait",
    "wait_ns",
    type=DURATION,
    default="12s",
    show_default=True,
    help="How long to wait for each attack's certificate.",
)
def demo_cmd(workdir: Path, baseline_ns: int, benign_ns: int, wait_ns: int) -> None:
    """Run a synthetic agent, baseline it, attack it once per channel, verify every .cal."""
    from h7.demo.runner import run_demo

    res = run_demo(workdir, baseline_ns / 1e9, benign_ns / 1e9, wait_ns / 1e9)
    if not res.ok:
        raise SystemExit(1)


COMMANDS = [demo_cmd]
