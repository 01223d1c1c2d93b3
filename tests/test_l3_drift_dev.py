"""L3 STRUCTURAL_DRIFT on real agent work: a new tool run or a git/venv operation is one new program.

Replays real-BPF, full-syscall journals of the eval's DEV stacks
(tests/journals/evaldev: langgraph and mcp, 30-s baseline, benign soak, the
dev attacks; cut before any held-out attack) and of the demo agent
(tests/journals/l3).  What they pin:

* the agent's ``run_command`` tool running ``ls`` for the first time after the
  baseline (the eval's full-run false alert on langgraph) is one new program:
  its libraries, locale data, user database, resolver socket and executable
  are its footprint, not a dozen new nodes;
* a first ``git commit`` in a new repository after a baseline that never ran
  git (git, its hook's shell, its writes in the new repo) is three new
  programs, not sixteen new things;
* the soaks raise no L3 verdict; the dev L3 attack is still a causal cycle.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import load_script

from h7.alert import Alert
from h7.config import EngineConfig
from h7.detect.channels import l3_causal
from h7.detect.engine import Engine
from h7.journal import JournalReader

J = Path(__file__).resolve().parent / "journals"
rec = load_script("l3_journal_record_dev", J / "l3" / "record.py")


class Replay:
    """One journal replayed: every L3 verdict (before folding) and each batch's L3 figures."""

    def __init__(self, path: Path, tmp: Path, skip: tuple[float, float] | None = None) -> None:
        raw = tmp / path.name.removesuffix(".gz")
        with gzip.open(path, "rb") as src, raw.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        reader = JournalReader(raw)
        self.meta: dict[str, Any] = reader.header.meta or {}
        off = int(self.meta.get("wall_minus_mono_ns", 0))
        engine = Engine(EngineConfig(baseline_ns=30 * 10**9, read_proc=False), reader.header.agents)
        self.verdicts: list[tuple[float, Alert]] = []  # (wall or relative s, alert)
        self.batches: list[dict[str, Any]] = []
        raw_alerts: list[Alert] = []
        orig = l3_causal.CausalChannel.judge
        orig_g = l3_causal.CausalChannel._graph_novelty

        def judge(ch: Any, batch: Any, ctx: Any) -> list[Alert]:
            out = orig(ch, batch, ctx)
            raw_alerts.extend(out)
            return out

        def graph(ch: Any, edges: Any, ke: Any, kn: Any) -> Any:
            res = orig_g(ch, edges, ke, kn)
            ch._test_new_nodes = res[2]
            return res

        t0 = None
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(l3_causal.CausalChannel, "judge", judge)
            mp.setattr(l3_causal.CausalChannel, "_graph_novelty", graph)
            for batch in reader:
                t0 = int(batch.t0_ns) if t0 is None else t0
                rel = (int(batch.t1_ns) - t0) / 1e9
                if skip is not None and skip[0] <= rel <= skip[1]:
                    continue
                raw_alerts.clear()
                engine.process(batch)
                at = (int(batch.t1_ns) + off) / 1e9 if off else rel
                self.verdicts.extend((at, a) for a in raw_alerts)
                for st in engine.agents.values():
                    for ch in st.channels:
                        if (
                            isinstance(ch, l3_causal.CausalChannel)
                            and ch.baselined
                            and hasattr(ch, "_test_new_nodes")
                        ):
                            self.batches.append(
                                {
                                    "at": at,
                                    "graph": ch.last["graph"],
                                    "ratio": ch.last["divergence"] / ch.cal.threshold,
                                    "new_nodes": list(ch._test_new_nodes),
                                }
                            )
        assert reader.truncated is None and engine.phase == "monitoring"

    def soak(self) -> tuple[float, float]:
        m = self.meta["marks"]
        return float(m["monitoring"]), float(m["soak_end"])


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Replay]:
    tmp = tmp_path_factory.mktemp("evaldev")
    out = {s: Replay(J / "evaldev" / f"{s}_dev.h7j.gz", tmp) for s in ("langgraph", "mcp")}
    out["langgraph_full"] = Replay(J / "evaldev" / "langgraph_full_f7136e2.h7j.gz", tmp)  # 10-min soak
    return out


@pytest.mark.parametrize("stack", ["langgraph", "mcp"])
def test_a_tool_run_for_the_first_time_after_the_baseline_is_one_new_program(
    dev: dict[str, Replay], stack: str
) -> None:
    r = dev[stack]
    first = [b for b in r.batches if "exe:/usr/bin/ls" in b["new_nodes"]]
    assert first, "the journal holds the agent's first ls after its baseline"
    b = first[0]
    # ls + at most a few other new things in that batch (mcp: git reading a new .mailmap and
    # .git/objects dir); before: ls's libraries, locale files, /etc/passwd|group|nsswitch.conf,
    # /proc/filesystems, its unix socket and its executable counted one by one (8-11 elements)
    assert b["graph"] <= 4, b
    assert len(b["new_nodes"]) >= 8  # the footprint is still there, in the evidence


@pytest.mark.parametrize("stack", ["langgraph", "mcp", "langgraph_full"])
def test_dev_soak_has_no_l3_verdict(dev: dict[str, Replay], stack: str) -> None:
    r = dev[stack]
    lo, hi = r.soak()
    soak = [b for b in r.batches if lo <= b["at"] <= hi]
    assert len(soak) >= (590 if stack.endswith("full") else 140)
    assert [(at, a.code) for at, a in r.verdicts if lo <= at <= hi] == []
    assert max(b["ratio"] for b in soak) < 1.0


@pytest.mark.parametrize("stack", ["mcp", "langgraph_full"])
def test_dev_l3_attack_is_still_a_causal_cycle(dev: dict[str, Replay], stack: str) -> None:
    r = dev[stack]
    atk = next(a for a in r.meta["attacks"] if a["id"] == "L3-cycle")
    t = float(atk["injected"])
    hits = [a for at, a in r.verdicts if t <= at <= t + 45 and a.code == "CAUSAL_CYCLE_DETECTED"]
    assert hits, [(at - t, a.code) for at, a in r.verdicts if at >= t]
    assert any("stage2.py" in p for p in hits[0].evidence["paths"])


def test_git_commit_in_a_new_repo_after_a_baseline_without_git_is_one_step_of_graph_novelty(
    tmp_path: Path,
) -> None:
    """The demo agent's journal with its baseline's git warm-up left out: git is new after it."""
    warm = next(at for at, n, _ in rec.ACTS if n == "git_warmup")
    commit = next(at for at, n, _ in rec.ACTS if n == "git_commit")
    pip = next(at for at, n, _ in rec.ACTS if n == "pip_venv_tool")
    r = Replay(J / "l3" / "benign_acts_then_cycles.h7j.gz", tmp_path, skip=(warm - 2, warm + 14))
    window = [b for b in r.batches if commit - 1 <= b["at"] < pip]
    git = [b for b in window if "exe:/usr/bin/git" in b["new_nodes"]]
    assert git, "git ran for the first time after the (git-free) baseline"
    # git, git-core's git and the hook's dash are 3 new programs; their writes in the new repo
    # (.git/*, locks, logs) and reads of /etc/gitconfig etc. are their footprint (49 elements on
    # main before: each .git file, lock and /etc read counted)
    assert git[0]["graph"] <= 6, git[0]
    # What can remain in this spawn-free baseline is the sequence term: the agent itself forking and
    # waiting on a child for the first time (its own windows, not git's): the graph is not what fires.
    for at, a in r.verdicts:
        if commit - 1 <= at < pip and a.code == "STRUCTURAL_DRIFT":
            ev = a.evidence
            assert ev["graph_novelty"] / ev["graph_scale"] <= 1.5, ev["new_nodes"]


def test_a_long_soaks_sequence_tail_leaves_room_for_a_new_program(dev: dict[str, Replay]) -> None:
    """Ten minutes of the dev langgraph agent: the sequence term alone stays well under the floor.

    Its worst batch is rare futex/poll/accept4 interleavings of the agent's in-process server (1.38
    nats over the baseline median); with the 0.5-nat spread floor that was 2.76 of the 4 units, so one
    new program in the same batch nearly fired.
    """
    r = dev["langgraph_full"]
    lo, hi = r.soak()
    soak = [b for b in r.batches if lo <= b["at"] <= hi]
    worst = max(soak, key=lambda b: b["ratio"])
    assert worst["ratio"] < 0.5, worst


def test_tool_work_in_a_fresh_thread_still_counts_in_the_sequence_term(dev: dict[str, Replay]) -> None:
    """The langgraph stack runs each tool call in a new thread: only that thread's start-up and futex
    waits are left out (l3_causal.CausalChannel.thread_birth_windows), not its work.  The dev L4-exfil
    (the code tool's TCP connect + UDP burst) keeps its incidental STRUCTURAL_DRIFT, all of it the
    sequence term; leaving out every window of a thread born in the batch drops it to 0.13.
    """
    r = dev["langgraph"]
    atk = next(a for a in r.meta["attacks"] if a["id"] == "L4-exfil")
    t = float(atk["injected"])
    hits = [a for at, a in r.verdicts if t <= at <= t + 5 and a.code == "STRUCTURAL_DRIFT"]
    assert hits, [(at - t, a.code) for at, a in r.verdicts if at >= t]
    ev = hits[0].evidence
    assert ev["graph_novelty"] / ev["graph_scale"] < 1.0 and ev["divergence"] > ev["threshold"]
    assert any({"connect", "sendto"} & set(w["syscalls"]) for w in ev["novel_windows"])  # the tool's egress
