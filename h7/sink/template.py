"""JSON body templates for webhooks: ``{{ name }}`` placeholders in string values.

Deliberately not ``str.format`` or Jinja: operators write these templates,
but their *values* come from alerts, which an attacker can influence (a
process name, a destination).  A placeholder can only look up a dotted path
in a fixed context and substitution happens after the template was parsed
as JSON, so no alert content can alter the body's structure.
"""

from __future__ import annotations

import json
import re
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}")


def placeholders(tpl: Any) -> list[str]:
    """Every dotted path a template refers to, for validating it at config load."""
    found: list[str] = []
    if isinstance(tpl, str):
        found += PLACEHOLDER.findall(tpl)
    elif isinstance(tpl, dict):
        for k, v in tpl.items():
            found += placeholders(k) + placeholders(v)
    elif isinstance(tpl, list):
        for v in tpl:
            found += placeholders(v)
    return found


def lookup(ctx: Any, path: str) -> Any:
    cur = ctx
    for part in path.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def _as_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, dict | list | bool):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def render(tpl: Any, ctx: dict[str, Any]) -> Any:
    """A string that is exactly one placeholder keeps the value's JSON type
    (so ``"{{ ocsf }}"`` embeds an object and ``"{{ divergence }}"`` a number);
    placeholders inside longer strings are substituted as text."""
    if isinstance(tpl, str):
        m = PLACEHOLDER.fullmatch(tpl.strip())
        if m:
            return lookup(ctx, m.group(1))
        return PLACEHOLDER.sub(lambda mm: _as_text(lookup(ctx, mm.group(1))), tpl)
    if isinstance(tpl, dict):
        return {
            PLACEHOLDER.sub(lambda mm: _as_text(lookup(ctx, mm.group(1))), str(k)): render(v, ctx)
            for k, v in tpl.items()
        }
    if isinstance(tpl, list):
        return [render(v, ctx) for v in tpl]
    return tpl
