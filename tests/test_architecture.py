"""Rules that keep each kind of change in one place (docs/architecture.md, "Where a change goes")."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from h7 import registry

REPO = Path(__file__).resolve().parent.parent
#: where code may spell an alert code besides the channel module that declares it
CODE_LITERALS_ALLOWED = ("h7/demo/attacks/",)


def _py_files(*roots: str) -> list[Path]:
    return sorted(p for r in roots for p in (REPO / r).rglob("*.py") if "__pycache__" not in p.parts)


def test_alert_codes_are_written_only_in_their_channel_module() -> None:
    """An alert code is a string literal only in the module that declares it (and the demo's attacks).

    Everything else (sink titles, config checks, the demo's expectations)
    asks :mod:`h7.registry`, so adding a code is an edit of one file.  Tests
    are exempt: they assert on specific codes on purpose.
    """
    owner = {}
    for spec in registry.specs():
        mod = sys.modules[spec.factory.__module__]
        assert mod.__file__ is not None
        for c in spec.codes:
            owner[c.code] = Path(mod.__file__).resolve().relative_to(REPO).as_posix()
    bad = []
    for path in _py_files("h7", "bench", "_build"):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(CODE_LITERALS_ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), rel)):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in owner
                and owner[node.value] != rel
            ):
                bad.append(f"{rel}:{node.lineno}: {node.value} (declared in {owner[node.value]})")
    assert not bad, "alert codes written outside their channel module:\n" + "\n".join(bad)


def test_every_builtin_channel_module_declares_itself() -> None:
    mods = {spec.factory.__module__ for spec in registry.specs()}
    assert set(registry.BUILTIN_MODULES) <= mods
