"""``python -m h7.sink sinkhole|status``: the sink's commands without the rest of the CLI.

The sinkhole is a separate long-running process; starting it this way keeps
it independent of the sensor's (heavier, root-only) imports.
"""

from __future__ import annotations

import sys

import click

from h7._click import H7Group
from h7.sink.commands import COMMANDS


@click.group(cls=H7Group)
def main() -> None:
    """H7 alert delivery."""


for _cmd in COMMANDS:
    main.add_command(_cmd)

if __name__ == "__main__":
    sys.exit(main())
