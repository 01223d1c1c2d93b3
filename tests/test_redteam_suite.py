"""The red-team suite's metadata: what the harness and the report rely on, for every variant file."""

from __future__ import annotations

import argparse
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


def test_the_victims_outlive_the_longest_run() -> None:
    """Session 12: both victims exited at their default 3600 s in a 265-phase run at load ~10.

    The lifetime the harness gives them covers every phase at its bounds; a short run
    keeps the victim's own hour (a harness killed by -9 leaves nothing behind for long).
    """
    a = argparse.Namespace(baseline=30.0, benign=8.0, wait=8.0, settle=1.5, act_timeout=60.0)
    phases = len(harness.load_variants())
    per_phase = a.benign + a.act_timeout + a.wait + a.settle
    assert harness.victim_lifetime(a, phases) >= a.baseline + phases * per_phase
    assert harness.victim_lifetime(a, phases) > 3600.0
    assert harness.victim_lifetime(a, 3) == 3600.0


def test_a_gone_victim_is_named(tmp_path: Path) -> None:
    """A victim that exited stops the run (the rest are listed as not started), not 50 failed acts."""
    import subprocess
    import sys

    h = harness.Harness(argparse.Namespace(workdir=tmp_path, out=tmp_path / "r.json"))
    live = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        h.victim, h.host_pid, h.ns_pid_host = live, live.pid, other.pid
        assert h.victims_gone() == ""
        assert other.stdin is not None
        other.stdin.close()
        other.wait(timeout=10)
        assert h.victims_gone() == f"the namespaced victim (pid {other.pid})"
        assert live.stdin is not None
        live.stdin.close()
        live.wait(timeout=10)
        assert h.victims_gone().startswith(f"the host victim (pid {live.pid}, rc 0)")
    finally:
        for p in (live, other):
            if p.poll() is None:
                p.kill()
                p.wait()
