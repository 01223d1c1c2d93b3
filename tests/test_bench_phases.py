"""bench/phases.py: the L5 phase log's stamps and the per-act split it prints (no timing asserted)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.phases import PhaseLog, breakdown, load, report

MS = 1_000_000


def _m(t: float, p: str, e: str, c: float = 0.0, q: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {"t": int(t * MS), "c": int(c * MS), "q": int(q * MS), "th": 7, "p": p, "e": e, **extra}


def _act() -> list[dict[str, Any]]:
    """One act at t=0 ms, its kernel event at 1 ms, a batch running 2-5 ms, the cert ending at 20 ms."""
    return [
        _m(0.5, "poll", "x", c=10, q=100, n=1),  # an earlier poll on the main thread
        _m(2, "batch", "b", c=10, q=100),
        _m(5, "batch", "e", c=12, q=101),
        _m(6, "poll", "x", c=12, q=104, n=1),  # the poll that returned the event: 3 ms on a run queue
        _m(7, "alert", "b", c=13, q=104, ch="L5"),
        _m(8, "lock", "b", c=13.5, q=104),
        _m(8.5, "lock", "e", c=14, q=104),
        _m(9, "sign", "b", c=14, q=104),
        _m(12, "sign", "e", c=15, q=106),  # 3 ms of signing: 1 ms CPU, 2 ms waiting for a CPU
        _m(12.5, "cert", "b", c=15, q=106, name="000000000007.cal"),
        _m(12.6, "fsync", "b", c=15, q=106, bytes=900),
        _m(18, "fsync", "e", c=15.5, q=107),  # 5.4 ms: 0.5 CPU, 1 run queue, the rest the disk
        _m(20, "cert", "e", c=16, q=107),
    ]


def test_breakdown_splits_an_act_into_its_steps_and_into_cpu_run_queue_and_blocked() -> None:
    b = breakdown(_act(), "000000000007.cal", stamp=0, event_ns=1 * MS, seen_ns=19 * MS)
    assert b["event_ms"] == 1.0
    assert b["to_poll_ms"] == 5.0 and b["to_alert_ms"] == 1.0 and b["to_lock_ms"] == 1.0
    assert b["sign_ms"] == 3.0 and b["fsync_ms"] == 5.4 and b["to_seen_ms"] == 1.0
    assert b["batch_overlap_ms"] == 3.0  # the event waited behind on_batch from 2 to 5 ms
    # poll (6 ms) -> cert end (20 ms): 14 ms = 4 ms CPU + 3 ms run queue + 7 ms blocked
    assert math.isclose(b["path_cpu_ms"], 4.0)
    assert math.isclose(b["path_runq_ms"], 3.0)
    assert math.isclose(b["path_blocked_ms"], 7.0)
    assert math.isclose(b["wake_runq_ms"], 4.0)  # from the last main-thread stamp before the event
    table = report([("000000000007.cal", 19.0, b)])
    assert "path_runq" in table.splitlines()[0] and table.splitlines()[1].split()[1] == "19.00"


def test_a_certificate_not_in_the_log_has_no_breakdown() -> None:
    assert breakdown(_act(), "000000000008.cal", 0, MS, 19 * MS) == {}


def test_the_log_stamps_both_edges_with_cpu_time_and_run_queue_wait(tmp_path: Path) -> None:
    path = tmp_path / "phases.jsonl"
    log = PhaseLog(path)
    owner = SimpleNamespace(step=lambda x: x * 2)
    log.wrap(owner, "step", "sign", lambda x: {"arg": x})
    assert owner.step(21) == 42
    log.f.close()
    marks = load(path)
    assert [(m["p"], m["e"]) for m in marks] == [("sign", "b"), ("sign", "e")]
    assert marks[0]["arg"] == 21 and marks[1]["t"] >= marks[0]["t"] and marks[1]["c"] >= marks[0]["c"]
    assert marks[0]["q"] >= 0  # this kernel keeps schedstat (a kernel without it would give -1)
