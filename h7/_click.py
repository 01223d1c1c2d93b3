"""The click group every H7 entry point uses: H7Error -> one line on stderr + its exit code."""

from __future__ import annotations

from typing import Any

import click

from h7.config import parse_duration
from h7.errors import H7Error, UsageError


class H7Group(click.Group):
    """Every failure an operator can cause is one ``h7: error:`` line and a distinct exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except H7Error as e:
            click.echo(f"h7: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except click.UsageError as e:  # a bad argument or option: click's own 4-line usage block, in one
            where = e.ctx.command_path if e.ctx is not None else ctx.command_path
            click.echo(f"h7: error: {e.format_message()} (see '{where} --help')", err=True)
            ctx.exit(e.exit_code)


class DurationType(click.ParamType):
    """click parameter type for ``--baseline 30s``; the value is integer ns."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_duration(value)
        except UsageError as e:
            self.fail(str(e), param, ctx)


#: nanoseconds, e.g. 30s, 500ms, 2m
DURATION = DurationType()
