"""L3 on benign novelty after a spawn-free baseline, and the attack shapes it must still certify.

Replays tests/journals/l3/novelty_after_spawnfree_baseline.h7j.gz (real BPF,
``record_novelty.py``): the demo agent, whose 30-s baseline never started a
process or a thread, then runs ordinary tools once (git in a new repo, ls,
grep/find/sort/tar, top/free/df, a child unittest run, node/npm), lazily
imports stdlib modules with a thread pool; then a curl that posts a fake
``~/.ssh`` key to a loopback address, and the demo's loop.  On main before
this change every benign act was a STRUCTURAL_DRIFT (8 verdicts, peak 4.1x
the threshold) and the curl was not (0.9x).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import load_script

from h7.alert import Alert
from h7.config import EngineConfig
from h7.detect.channels import l3_causal
from h7.detect.channels.l3_causal import (
    CausalGraphBuilder,
    exfil_shape,
    last_token_in,
    runtime_code,
    structural_novelty,
)
from h7.detect.engine import Engine
from h7.detect.syscalls import NAME_TO_NR
from h7.journal import JournalReader

J = Path(__file__).resolve().parent / "journals" / "l3"
rec = load_script("l3_record_novelty", J / "record_novelty.py")
Replayed = tuple[list[tuple[float, Alert]], list[dict[str, Any]]]
LAG_S = 3.0  # an act injected at t lands in the batch ending ~2 s later on the journal's clock (+1 s slack)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    raw = tmp_path_factory.mktemp("l3nov") / rec.OUT_NAME
    with gzip.open(J / (rec.OUT_NAME + ".gz"), "rb") as src, raw.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    reader = JournalReader(raw)
    engine = Engine(EngineConfig(baseline_ns=rec.BASELINE_S * 10**9, read_proc=False), reader.header.agents)
    verdicts: list[tuple[float, Alert]] = []
    batches: list[dict[str, Any]] = []
    got: list[Alert] = []
    orig = l3_causal.CausalChannel.judge

    def judge(ch: Any, batch: Any, ctx: Any) -> list[Alert]:
        out = orig(ch, batch, ctx)
        got.extend(out)
        return out

    t0 = None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(l3_causal.CausalChannel, "judge", judge)
        for batch in reader:
            t0 = int(batch.t0_ns) if t0 is None else t0
            got.clear()
            engine.process(batch)
            rel = (int(batch.t1_ns) - t0) / 1e9
            verdicts.extend((rel, a) for a in got)
            for st in engine.agents.values():
                for ch in st.channels:
                    if isinstance(ch, l3_causal.CausalChannel) and ch.baselined and "graph" in ch.last:
                        batches.append({"at": rel, "ratio": ch.last["divergence"] / ch.cal.threshold})
    assert reader.truncated is None and engine.phase == "monitoring"
    return verdicts, batches


def _window(name: str) -> tuple[float, float]:
    i = next(i for i, a in enumerate(rec.ACTS) if a[1] == name)
    end = rec.ACTS[i + 1][0] if i + 1 < len(rec.ACTS) else float("inf")
    return rec.ACTS[i][0] - LAG_S, end - LAG_S


@pytest.mark.parametrize("act", rec.BENIGN)
def test_benign_novelty_after_a_spawn_free_baseline_is_no_l3_verdict(replayed: Replayed, act: str) -> None:
    verdicts, batches = replayed
    lo, hi = _window(act)
    assert [(at, a.code, a.divergence) for at, a in verdicts if lo <= at < hi] == []
    ratios = [b["ratio"] for b in batches if lo <= b["at"] < hi]
    assert ratios, act
    # margin (docs/detection.md L3): the benign peak on this journal is 0.56 (7 new programs of tar & co)
    assert max(ratios) < 0.75, (act, max(ratios))


def test_a_new_program_posting_a_key_is_structural_drift(
    replayed: Replayed,
) -> None:
    verdicts, _ = replayed
    lo, hi = _window("curl_key")
    hits = [a for at, a in verdicts if lo <= at < hi and a.code == "STRUCTURAL_DRIFT"]
    assert len(hits) == 1, [(at, a.code) for at, a in verdicts]
    shape = hits[0].evidence["exfil_shape"]
    assert any(".ssh/id_rsa" in v for v in shape) and "net:inet:127.0.0.2:9" in shape


def test_the_demo_loop_is_still_a_cycle(replayed: Replayed) -> None:
    verdicts, _ = replayed
    lo, hi = _window("demo_l3")
    assert any(a.code == "CAUSAL_CYCLE_DETECTED" for at, a in verdicts if lo <= at < hi)


def test_a_known_interpreter_reading_installed_code_is_a_lazy_import_but_other_code_counts() -> None:
    agent = "exe:/usr/bin/python3.11"
    known = {agent}.__contains__
    stdlib = "file:/usr/lib/python#.#/concurrent/futures/__pycache__/thread.cpython-#.pyc"
    assert runtime_code(stdlib, set()) and runtime_code("dir:/usr/lib/python#.#/xml/etree", set())
    assert structural_novelty({(stdlib, agent, "read")}, lambda e: False, known, set())[0] == 0.0
    # a module tree of the user's (PYTHONPATH, a venv the baseline never used) is not installed code
    user = "file:/w/x/lib/python#.#/site-packages/evil/*.py"
    assert not runtime_code(user, set())
    assert structural_novelty({(user, agent, "read")}, lambda e: False, known, set())[0] == 1.0
    assert runtime_code(user, {"/w/x/lib/python#.#/"})  # ... unless the baseline used it
    # writing into installed code counts, whoever writes
    w = (agent, "file:/usr/lib/python#.#/site-packages/*.pth", "write")
    assert structural_novelty({w}, lambda e: False, known, set())[0] == 1.0


def test_exfil_shape_needs_a_new_programs_secret_read_and_new_egress() -> None:
    curl, agent = "exe:/usr/bin/curl", "exe:/usr/bin/python3.11"
    key, dest = "file:/h/.ssh/id_rsa", "net:inet:127.0.0.2:9"
    known = {agent}.__contains__

    def new(e: object) -> bool:  # known_edge: every edge is new
        return False

    assert exfil_shape({(key, curl, "read"), (curl, dest, "connect")}, known, new) == [key, dest]
    assert exfil_shape({(key, curl, "read")}, known, new) == []
    assert exfil_shape({("file:/w/*.md", curl, "read"), (curl, dest, "connect")}, known, new) == []
    assert exfil_shape({(curl, "net:unix", "connect"), (key, curl, "read")}, known, new) == []
    # `cat key | curl -d @- ...`: two new programs of one pipeline
    cat = "exe:/usr/bin/cat"
    assert exfil_shape({(key, cat, "read"), (curl, dest, "connect")}, known, new) == [key, dest]
    # ps listing processes reads their environ (L5's to judge); a curl after it is no exfil shape
    ps = "exe:/usr/bin/ps"
    assert exfil_shape({("file:/proc/*/environ", ps, "read"), (curl, dest, "connect")}, known, new) == []
    # the agent's own egress is L4's: the agent reading a key and connecting itself is no shape here
    assert exfil_shape({(key, agent, "read"), (agent, dest, "connect")}, known, new) == []
    # the agent reading a key it never read, then a new program sending: the shape
    assert exfil_shape({(key, agent, "read"), (curl, dest, "connect")}, known, new) == [key, dest]
    # ... but not a credential its client reads on every request (in the baseline)
    base = {(key, agent, "read")}.__contains__
    assert exfil_shape({(key, agent, "read"), (curl, dest, "connect")}, known, base) == []


def _ev(t: str, pid: int, tid: int, ts: int = 0, **kw: Any) -> dict[str, Any]:
    return {"type": t, "pid": pid, "tid": tid, "ts_ns": ts, "comm": "x", **kw}


def test_threads_that_spawn_or_import_are_explained_unless_they_touch_secrets() -> None:
    b = CausalGraphBuilder(100, "/usr/bin/python3.11")
    b.edges([_ev("fork", 100, 101, ts=10**9, child=200)])
    assert b.batch_spawners == {101} and b.spawning_threads(2 * 10**9) == {101}
    b.edges([])  # the next batch: the child still runs
    assert b.spawning_threads(2 * 10**9) == {101}
    assert b.spawning_threads(10**9 + l3_causal.SPAWN_HOLD_NS + 1) == set()  # a long-lived child: not forever
    assert 200 not in b._children  # ... and forgotten: the walk stays over recent forks only
    b.edges([_ev("fork", 100, 101, ts=10**9, child=200)])
    b.edges([_ev("exit", 200, 200, ts=3 * 10**9)])
    assert b.batch_spawners == {101}  # its parent reaps it now
    b.edges([])
    assert b.spawning_threads(4 * 10**9) == set()
    b.edges(
        [
            _ev("open", 100, 103, path="/usr/lib/python3.11/heapq.py", flags=0),
            _ev("open", 100, 104, path="/usr/lib/python3.11/heapq.py", flags=0),
            _ev("open", 100, 104, path="/home/a/.ssh/id_rsa", flags=0),
        ]
    )
    assert set(b.batch_imports) == {103, 104}
    assert b.batch_sensitive == {104}


def test_a_thread_is_born_where_a_window_ends_with_rseq_or_set_robust_list() -> None:
    tok = {n: NAME_TO_NR[n] + 2 for n in ("rseq", "futex", "read")}
    start = np.asarray([tok["rseq"], tok["futex"]], np.uint64)  # as _START_TOKENS, any two tokens
    w = np.asarray(
        [(tok["futex"] << 10) | tok["rseq"], (tok["rseq"] << 10) | tok["read"], tok["futex"]], np.uint64
    )
    assert last_token_in(w, start[:1]).tolist() == [True, False, False]
    assert last_token_in(w, start).tolist() == [True, False, True]


def test_a_new_threads_start_and_futex_waits_are_left_out_but_its_work_is_not() -> None:
    tok = {n: NAME_TO_NR[n] + 2 for n in ("rseq", "set_robust_list", "futex", "mmap", "sendto", "connect")}

    def win(*names: str) -> int:
        code = 0
        for n in names:
            code = (code << 10) | tok[n]
        return code

    dt = np.dtype([("window", "<u8"), ("tgid", "<u4"), ("tid", "<u4")])
    rows = [
        (win("rseq", "set_robust_list"), 100, 101),  # worker 101 starts ...
        (win("set_robust_list", "mmap", "futex"), 100, 101),  # ... maps its stack, waits
        (win("futex", "futex", "futex", "futex", "futex", "futex"), 100, 101),
        (win("futex", "futex", "connect", "sendto"), 100, 101),  # ... and sends: scored
        (win("rseq"), 200, 200),  # a new process's first thread: scored as before
        (win("futex", "futex"), 100, 100),  # the main thread: not born here
    ]
    sys = np.array(rows, dtype=dt)
    assert l3_causal.CausalChannel.thread_birth_windows(sys).tolist() == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_a_key_read_then_sent_a_few_seconds_later_is_still_the_exfil_shape() -> None:
    from h7.detect.channels.l3_causal import EXFIL_WINDOW_NS, ExfilWindow

    cat, curl, agent = "exe:/usr/bin/cat", "exe:/usr/bin/curl", "exe:/usr/bin/python3.11"
    key, dest = "file:/h/.ssh/id_rsa", "net:inet:127.0.0.2:9"
    known = {agent}.__contains__

    def new(e: object) -> bool:
        return False

    w = ExfilWindow()
    assert w.observe(10**9, {(key, cat, "read"), ("file:/tmp/*", cat, "read")}, known, new) == []
    assert w.observe(2 * 10**9, {("file:/w/*.md", agent, "read")}, known, new) == []
    assert w.observe(3 * 10**9, {(curl, dest, "connect")}, known, new) == [key, dest]
    # out of the window: forgotten
    assert w.observe(10**9 + EXFIL_WINDOW_NS + 1, {(curl, dest, "connect")}, known, new) == []
    # the agent's own (known) egress pairs with nothing; a send before the read is no exfiltration of it
    w2 = ExfilWindow()
    assert w2.observe(10**9, {(curl, dest, "connect")}, known, new) == []
    assert w2.observe(2 * 10**9, {(key, cat, "read"), (agent, dest, "connect")}, known, new) == []


def test_a_known_tool_working_in_a_new_repository_is_its_footprint(tmp_path: Path) -> None:
    """tests/journals/l3/git_known_new_repo_dev.h7j.gz (record_git_known.py, real BPF, DEV): git ran in
    the baseline; after it, git in a new repository and a clone of a local bare origin + commit + push.

    Before this rule the clone/push batch was STRUCTURAL_DRIFT (105 new elements, 1.09x the
    threshold): every .git path a KNOWN program touched for the first time counted (red-team round 4's
    held-out ``git_clone_push_local`` drift had this cause).
    """
    raw = tmp_path / "g.h7j"
    with gzip.open(J / "git_known_new_repo_dev.h7j.gz", "rb") as src, raw.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    reader = JournalReader(raw)
    engine = Engine(EngineConfig(baseline_ns=30 * 10**9, read_proc=False), reader.header.agents)
    alerts = [a for b in reader for a in engine.process(b)]
    assert engine.phase == "monitoring"
    assert [a.code for a in alerts if a.channel == "L3"] == []


def test_what_a_known_tool_touches_is_its_footprint_but_the_agents_own_image_still_counts() -> None:
    agent, git = "exe:/usr/bin/python3.11", "exe:/usr/bin/git"
    known = {agent, git, "file:/etc/passwd"}
    repo = "file:/w/new/.git/"
    tool_work = {
        (git, repo + "HEAD", "write"),
        (repo + "config", git, "read"),
        ("dir:/w/new/.git/refs", git, "list"),
    }
    kn = known.__contains__
    # a known tool's first touches of ordinary new files: its footprint (with the agent's image named)
    assert structural_novelty(tool_work, lambda e: False, kn, None, agent)[0] == 0.0
    assert structural_novelty(tool_work, lambda e: False, kn)[0] == 3.0  # (no agent image: as before)
    # the agent's own image touching them counts, whoever else did
    own = {(agent, repo + "HEAD", "write"), (repo + "config", agent, "read")}
    assert structural_novelty(own, lambda e: False, kn, None, agent)[0] == 2.0
    # a known tool reading a secret or writing a start-up file still counts
    for e in (("file:/root/.ssh/id_rsa", git, "read"), (git, "file:/root/.bashrc", "write")):
        assert structural_novelty({e}, lambda e: False, kn, None, agent)[0] == 1.0, e
