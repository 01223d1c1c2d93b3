"""An agent that fills the event ring is named: per-agent drop counters and L3's EVENTS_LOST.

Real BPF: an agent reopens one file for writing far faster than nobody drains (the test does
not poll while it acts), so the kernel must drop some of its records.  Which agent's records
were lost is counted in the kernel (``h7_stats.events_dropped``), arrives in the batch, and
L3 certifies it.  Named test_live_* so vmtest runs it in every guest kernel.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from conftest import TIMESCALE

from h7.batch import Batch
from h7.config import EngineConfig
from h7.decode import SCOPE_DTYPE, STATS_DTYPE, STATS_SIZE_V4
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l3_causal import CausalChannel

FLOOD = r"""
import os, sys
sys.stdin.readline()                  # blocked here while H7 attaches
p = sys.argv[1]
for _ in range(int(sys.argv[2])):
    os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))
"""


def test_a_flooded_event_ring_is_counted_against_the_agent_and_certified(sensor: Any, tmp_path: Path) -> None:
    ring = sensor.config.event_ring_bytes
    opens = max(20_000, 4 * ring // 64)  # more records than the ring holds, at any record size
    p = subprocess.Popen(
        [sys.executable, "-c", FLOOD, str(tmp_path / "f"), str(opens)], stdin=subprocess.PIPE, text=True
    )
    try:
        info = sensor.add_agent(p.pid)
        sensor.take_batch(0, 0)  # what came before the act is not this batch's
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.close()
        assert p.wait(timeout=60 * TIMESCALE) == 0  # nobody drains meanwhile
    finally:
        p.kill()
        p.wait()
    time.sleep(0.1)
    sensor.poll(0)
    batch = sensor.take_batch(0, 0)
    st = batch.stats[info.agent]
    assert int(st["opens"]) >= opens
    assert int(st["events_dropped"]) > 0, "a full ring lost no record of the agent"
    shipped = sum(1 for e in batch.events if e.get("agent") == info.agent)
    assert shipped + int(st["events_dropped"]) >= opens, (shipped, int(st["events_dropped"]))
    ctx = ChannelContext(
        agent=info.agent, agent_id="flood", info=info, config=EngineConfig(), proc=ProcReader(False)
    )
    got = CausalChannel._lost(batch, ctx, st)
    assert [(a.code, a.key) for a in got] == [("EVENTS_LOST", "events_lost")]
    assert got[0].evidence["events_dropped"] == int(st["events_dropped"])


def _stats(**fields: int) -> Any:
    st = np.zeros(1, STATS_DTYPE)[0]
    for k, v in fields.items():
        st[k] = v
    return st


def test_no_drop_no_alert_and_syscall_drops_alone_raise_nothing() -> None:
    ctx = ChannelContext(agent=1, agent_id="a", info=None, config=EngineConfig(), proc=ProcReader(False))
    b = Batch(t0_ns=0, t1_ns=10**9)
    assert CausalChannel._lost(b, ctx, _stats(opens=10)) == []
    assert CausalChannel._lost(b, ctx, _stats(sys_dropped=5000)) == []
    assert CausalChannel._lost(b, ctx, None) == []
    one = CausalChannel._lost(b, ctx, _stats(events_dropped=3, sys_dropped=7))
    assert one[0].evidence["events_dropped"] == 3 and one[0].evidence["syscalls_dropped"] == 7
    b.stats = {1: _stats(events_dropped=3), 2: _stats(events_dropped=500), 3: _stats()}
    two = CausalChannel._lost(b, ctx, b.stats[1])
    assert two[0].evidence["events_dropped_other_agents"] == 500


def test_journals_from_before_the_drop_counters_read_them_as_zero() -> None:
    full = _stats(opens=4, events_dropped=9)
    raw = full.tobytes()[:STATS_SIZE_V4]
    rec = {"t0": 0, "t1": 1, "sys": b"", "events": [], "stats": {1: raw}}
    b = Batch.from_record(rec, version=3)
    assert int(b.stats[1]["opens"]) == 4 and int(b.stats[1]["events_dropped"]) == 0


def test_a_child_the_full_scope_map_cannot_take_is_counted_and_certified(sensor: Any) -> None:
    """H7_SCOPE_ENTRIES threads watched: a new child of the agent goes unseen, and says so.

    The map is filled with placeholder tids above any pid_max (no task can have them), so the
    agent's next fork is the one that does not fit.
    """
    from h7.decode import SCOPE_ENTRIES
    from h7.errors import BPFError

    scope = sensor._maps["scope"]
    filler = np.zeros(1, SCOPE_DTYPE)
    filler["agent"] = 0
    value = filler.tobytes()
    base = 0x40000000
    p = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys\nsys.stdin.readline()\nc = os.fork()\nc or os._exit(0)\nos.waitpid(c, 0)",
        ],
        stdin=subprocess.PIPE,
        text=True,
    )
    put = 0
    try:
        info = sensor.add_agent(p.pid)
        sensor.take_batch(0, 0)
        free = SCOPE_ENTRIES - len(sensor.watched_tids())
        for i in range(free + 16):  # a few past full: the map refuses those
            try:
                scope.update((base + i).to_bytes(4, "little"), value)
            except BPFError:
                break  # full
            put = i + 1
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.close()
        assert p.wait(timeout=30 * TIMESCALE) == 0
    finally:
        for i in range(put):
            scope.delete((base + i).to_bytes(4, "little"))
        p.kill()
        p.wait()
    sensor.poll(0)
    batch = sensor.take_batch(0, 0)
    st = batch.stats[info.agent]
    assert int(st["tasks_unwatched"]) == 1, int(st["tasks_unwatched"])
    ctx = ChannelContext(
        agent=info.agent, agent_id="full", info=info, config=EngineConfig(), proc=ProcReader(False)
    )
    got = CausalChannel._lost(batch, ctx, st)
    assert [a.code for a in got] == ["EVENTS_LOST"] and got[0].evidence["tasks_unwatched"] == 1
