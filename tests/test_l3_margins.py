"""bench/l3_margins.py: L3's figures per phase of a journal, for the worktree and a git revision."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import l3_margins

ROOT = Path(__file__).resolve().parent.parent
MCP = ROOT / "tests" / "journals" / "evaldev" / "mcp_dev.h7j.gz"


def test_phases_of_an_eval_journal_soak_and_dev_attacks(capsys: pytest.CaptureFixture[str]) -> None:
    assert l3_margins.main([str(MCP), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    (res,) = runs["worktree"]
    ph = res["phases"]
    assert {"soak", "attack:L3-cycle", "attack:L2-shell"} <= set(ph)
    assert ph["soak"]["batches"] >= 140 and ph["soak"]["alerts"] == []
    assert 0.0 < ph["soak"]["peak_ratio"] < 1.0
    assert [a["code"] for a in ph["attack:L3-cycle"]["alerts"]] == ["CAUSAL_CYCLE_DETECTED"]
    held = l3_margins._held_out_ids()
    assert held and not any(p.split(":", 1)[-1] in held for p in ph)  # held-out windows never reported


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)
def test_ref_replays_the_same_journal_with_that_revisions_h7(capsys: pytest.CaptureFixture[str]) -> None:
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    assert l3_margins.main([str(MCP), "--json", "--ref", head.stdout.strip()]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert set(runs) == {"worktree", head.stdout.strip()}
    here, there = runs["worktree"][0]["phases"], runs[head.stdout.strip()][0]["phases"]
    assert set(here) == set(there) and there["soak"]["batches"] == here["soak"]["batches"]


def test_bad_input_one_line_and_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert l3_margins.main([str(tmp_path / "nope.h7j")]) == 2
    assert "no such journal" in capsys.readouterr().err
