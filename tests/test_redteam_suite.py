"""The red-team suite's metadata: what the harness and the report rely on, for every variant file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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


def test_round_selection_lists_only_those_rounds(capsys: pytest.CaptureFixture[str]) -> None:
    """`--round 4,5` is how a guest runs the latest blind rounds alone (vmtest/redteam.py -- --round 4,5)."""
    assert harness.main(["--round", "4,5", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    want = {v.name for v in harness.load_variants() if v.round in (4, 5)}
    assert listed and set(listed) == want
    assert harness.main(["--round", "four", "--list"]) == 2
