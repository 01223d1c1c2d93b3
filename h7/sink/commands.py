"""``h7 sinkhole`` and ``h7 status``."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from h7.config import load_sink
from h7.paths import DEFAULT_STATUS_PATH
from h7.sensor.status import format_status, read_status
from h7.sink.client import ping_sinkhole
from h7.sink.server import Sinkhole, _log

_PATH = click.Path(dir_okay=False, path_type=Path)


@click.command("sinkhole")
@click.option(
    "--socket",
    "socket_path",
    type=_PATH,
    default=None,
    help="Unix socket to listen on [default: [sinkhole] socket, else /run/h7/alerts.sock].",
)
@click.option(
    "--config",
    "config_path",
    type=_PATH,
    default=None,
    help="TOML config [default: /etc/h7/h7.toml; stdout only if absent].",
)
@click.option("--group", default=None, help="Group that may connect (socket is mode 0660).")
@click.option("--check", is_flag=True, help="Validate the config, print the outputs and exit.")
def sinkhole(socket_path: Path | None, config_path: Path | None, group: str | None, check: bool) -> None:
    """Receive alerts from the sensor and deliver them to the configured outputs.

    Runs in the foreground until SIGTERM or SIGINT.  An alert is acknowledged
    to the sensor only once every output has it; until then it stays in the
    sensor's spool and is redelivered.
    """
    cfg = load_sink(config_path)
    server = Sinkhole(cfg, socket_path, group)
    if check:
        click.echo(f"config {cfg.source or '(built-in defaults)'} is valid")
        click.echo(f"socket: {server.socket_path}")
        for o in server.outputs:
            click.echo(f"output: {o.describe()}")
        return
    server.bind()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        server.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    src = cfg.source or "built-in defaults (no /etc/h7/h7.toml)"
    _log(f"listening on {server.socket_path} (config {src}); outputs: "
         + ", ".join(o.describe() for o in server.outputs))  # fmt: skip
    try:
        server.serve_forever()
    finally:
        server.shutdown()
        _log(f"stopped; {server.delivered} alerts delivered, {server.nacked} nacked")


@click.command("status")
@click.option(
    "--status-file",
    type=_PATH,
    default=DEFAULT_STATUS_PATH,
    show_default=True,
    help="Status file the sensor writes.",
)
@click.option(
    "--config",
    "config_path",
    type=_PATH,
    default=None,
    help="TOML config, for the sinkhole socket [default: /etc/h7/h7.toml].",
)
@click.option("--socket", "socket_path", type=_PATH, default=None, help="Sinkhole socket to query.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw status as JSON.")
@click.pass_context
def status(
    ctx: click.Context, status_file: Path, config_path: Path | None, socket_path: Path | None, as_json: bool
) -> None:
    """Show the running sensor: agents, per-channel state, alerts, spool, drops.

    Exits 0 when a sensor is running, 1 when none is.
    """
    cfg = load_sink(config_path, require_outputs=False)
    doc = read_status(status_file)
    sink = ping_sinkhole(socket_path or cfg.socket)
    if as_json:
        click.echo(json.dumps({**doc, "sinkhole": sink}, indent=2, default=str))
    else:
        click.echo(format_status(doc, sink))
    sys.stdout.flush()
    if not doc.get("running"):
        ctx.exit(1)


COMMANDS: list[click.Command] = [sinkhole, status]
