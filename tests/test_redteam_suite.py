"""The red-team suite's metadata: what the harness and the report rely on, for every variant file."""

from __future__ import annotations

import ast
from pathlib import Path

from redteam import harness

CHANNELS = {"L1", "L2", "L3", "L4", "L5"}


def test_every_variant_declares_what_it_attacks() -> None:
    vs = harness.load_variants()
    assert len({v.name for v in vs}) == len(vs)
    for v in vs:
        if v.benign:
            assert v.expect == (), v.name  # benign work expects nothing: any alert is false
            continue
        assert v.expect, v.name
        assert {e.split(":")[0] for e in v.expect} <= CHANNELS, v.name
        assert v.doc, f"{v.name}: the docstring's first line is the table's description"


def test_blind_rounds_are_held_out() -> None:
    """Rounds 3 and later were written blind and landed before their first run: reported apart."""
    for v in harness.load_variants():
        if v.round >= 3:
            assert v.held_out, v.name


def test_staged_variants_have_a_stage_function() -> None:
    for v in harness.load_variants():
        names = {n.name for n in ast.parse(Path(v.path).read_text()).body if isinstance(n, ast.FunctionDef)}
        assert v.stage == ("stage" in names), v.name
        assert "unstage" not in names or v.stage, f"{v.name}: unstage without a stage never runs"
