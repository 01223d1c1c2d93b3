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


def test_marks_beside_the_journal_give_its_phases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`h7 attach --journal` + eval's `<stack>.marks.json`: the phases come from the sidecar."""
    from h7.journal import JournalReader

    j = tmp_path / "stack.h7j"
    shutil.copy(ROOT / "tests" / "journals" / "real" / "benign.h7j", j)
    r = JournalReader(j)
    assert "marks" not in (r.header.meta or {})
    t1 = [b.t1_ns for b in r][-1] / 1e9  # journal clock (no wall offset in this journal)
    marks = {
        "marks": {"monitoring": t1 - 12, "soak_end": t1 - 5},
        "attacks": [{"id": "L3-cycle", "injected": t1 - 4}],
    }
    (tmp_path / "stack.marks.json").write_text(json.dumps(marks))
    assert l3_margins.main([str(j), "--json"]) == 0
    ph = json.loads(capsys.readouterr().out)["worktree"][0]["phases"]
    assert set(ph) == {"soak", "between", "attack:L3-cycle"}  # between: after the soak, before the attack
    assert ph["soak"]["batches"] in (7, 8) and ph["attack:L3-cycle"]["batches"] in (4, 5)
