"""``python -m h7.sink sinkhole|status``: the sink's commands without the rest of the CLI.

The sinkhole is a separate long-running process; starting it this way keeps
it independent of the sensor's (heavier, root-only) imports.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from h7.errors import H7Error
from h7.sink.commands import COMMANDS


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except H7Error as e:
            click.echo(f"h7: error: {e}", err=True)
            ctx.exit(e.exit_code)


@click.group(cls=_Group)
def main() -> None:
    """H7 alert delivery."""


for _cmd in COMMANDS:
    main.add_command(_cmd)

if __name__ == "__main__":
    sys.exit(main())
