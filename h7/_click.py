"""The click group every H7 entry point uses: H7Error -> one line on stderr + its exit code."""

from __future__ import annotations

from typing import Any

import click

from h7.errors import H7Error


class H7Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except H7Error as e:
            click.echo(f"h7: error: {e}", err=True)
            ctx.exit(e.exit_code)
