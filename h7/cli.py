"""The ``h7`` command.

Subcommands live next to the code they drive (``h7/<package>/commands.py``
exports ``COMMANDS``) and are registered here, so this file stays a table of
contents.  Every ``H7Error`` becomes one line on stderr and its exit code.
"""

from __future__ import annotations

import importlib
import sys

import click

from h7 import __version__
from h7._click import H7Group

# Modules that export COMMANDS: list[click.Command].  A module that is not
# there yet (work in progress) is skipped rather than breaking the CLI.
COMMAND_MODULES = (
    "h7.sensor.commands",
    "h7.detect.commands",
    "h7.cal.commands",
    "h7.sink.commands",
    "h7.demo.commands",
)


@click.group(cls=H7Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="h7")
def main() -> None:
    """H7 watches AI-agent processes from the kernel and signs what it saw.

    \b
    Typical use (as root):
      h7 keygen                      create the host's signing key
      h7 sinkhole &                  start the local alert sink
      h7 attach <pid>                baseline 30 s, then monitor five channels
      h7 verify /var/lib/h7/cal --pubkey /var/lib/h7/keys/h7.pub
    """


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and (name == e.name or name.startswith(e.name + ".")):
                continue
            raise
        for cmd in getattr(mod, "COMMANDS", []):
            main.add_command(cmd)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
