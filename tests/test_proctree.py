"""L1's per-process CPU attribution (h7.detect.proctree): real processes, real /proc.

The sampler reads the real /proc of processes this test starts (a busy child
that exec'd, a busy child forked without exec); the ledger is fed the events
the sensor would report for them.  No sensor and no BPF: the sensor's part
(fork/exec/exit events) is covered by the live tests; what is new here is the
/proc side and the rule that keeps a miner judged.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import TIMESCALE

from h7.batch import Batch
from h7.detect.proctree import ProcessLedger, sample_tree

#: how long a busy child may take to get 0.1 CPU-s on a loaded (or emulated) 2-core host
CPU_DEADLINE_S = 10.0 * TIMESCALE

SPIN = "import time\nt=time.monotonic()\nwhile time.monotonic()-t<float(__import__('sys').argv[1]): pass\n"


def _busy_child(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", SPIN, f"{seconds:g}"])


def test_sample_tree_reads_every_descendant_and_its_cpu() -> None:
    """A busy exec'd grandchild is found through the children files and its CPU grows."""
    # a shell that runs a busy python: our child (sh) -> its child (python)
    p = subprocess.Popen(["/bin/sh", "-c", f'{sys.executable} -c "{SPIN}" {CPU_DEADLINE_S:g}; true'])
    try:
        deadline = time.monotonic() + CPU_DEADLINE_S
        first: dict[int, int] = {}
        while time.monotonic() < deadline:  # bounded: until sh has its python child
            first = sample_tree(os.getpid())
            if len(first) >= 3:
                break
            time.sleep(0.05)
        assert os.getpid() in first and p.pid in first and len(first) >= 3, first
        (grand,) = [q for q in first if q not in (os.getpid(), p.pid)]
        t0, grew = time.monotonic(), 0
        while time.monotonic() < deadline and grew < 0.1e9:  # bounded: until it spun 0.1 CPU-s
            time.sleep(0.1)
            grew = sample_tree(os.getpid()).get(grand, 0) - first[grand]
        # some CPU, and never more than the wall time it had (plus a tick)
        assert 0.1e9 <= grew <= (time.monotonic() - t0) * 1e9 + 0.02e9, grew
    finally:
        p.kill()
        p.wait(timeout=10)


def _sample_until(led: ProcessLedger, pid: int, since: int) -> dict[int, int]:
    """A sample of this process's tree once ``pid`` has used 0.1 CPU-s since ``since`` (bounded)."""
    deadline = time.monotonic() + CPU_DEADLINE_S
    while True:
        s = sample_tree(os.getpid(), led.pids())
        if s.get(pid, 0) - since >= 0.1e9 or time.monotonic() > deadline:
            return s
        time.sleep(0.1)


def test_sample_tree_skips_what_is_gone_and_is_bounded() -> None:
    assert sample_tree(2**22 + 7) == {}  # no such pid
    # a process that has not ended is still listed once, however many times it is named
    s = sample_tree(os.getpid(), extra=[os.getpid(), os.getpid()])
    assert list(s).count(os.getpid()) == 1
    assert len(sample_tree(1, limit=3)) <= 3


def _ev(kind: str, pid: int, **kw: object) -> dict[str, object]:
    return {"type": kind, "pid": pid, "tid": kw.pop("tid", pid), "ts_ns": 0, **kw}


def test_ledger_sets_exec_tool_cpu_apart_and_measures_own_cpu() -> None:
    """A real busy exec'd child: its CPU is the tool's; the agent's own stays what it burnt."""
    me = os.getpid()
    led = ProcessLedger(me, armed=True)
    led.close_batch(sample_tree(me))  # the first sample only starts the clock
    child = _busy_child(CPU_DEADLINE_S)
    try:
        led.on_event(_ev("fork", me, child=child.pid))
        led.on_event(_ev("exec", child.pid, filename=sys.executable))
        assert child.pid in led.tools and child.pid not in led.own_alive
        share = led.close_batch(_sample_until(led, child.pid, 0))
        assert share.tools_alive == 1 and share.own_s is not None, share
        assert share.tool_s >= 0.1, share  # the child spun
        assert share.own_s < share.tool_s, share  # this process slept
    finally:
        child.kill()
        child.wait(timeout=10)


def test_ledger_counts_a_forked_miner_as_own() -> None:
    """A child forked WITHOUT exec is the agent's own code: its CPU is judged, not set apart."""
    me = os.getpid()
    led = ProcessLedger(me, armed=True)
    led.close_batch(sample_tree(me))
    pid = os.fork()
    if pid == 0:  # the forked "miner": spin, never exec (bounded in time; killed below)
        t = time.monotonic()
        while time.monotonic() - t < CPU_DEADLINE_S:
            pass
        os._exit(0)
    try:
        led.on_event(_ev("fork", me, child=pid))
        share = led.close_batch(_sample_until(led, pid, 0))
        assert pid in led.own_alive and share.own_s is not None and share.own_s >= 0.1, share
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    # it exited before the next sample: its last stretch is unmeasured, so no attribution at all
    led.on_event(_ev("exit", pid))
    share = led.close_batch(sample_tree(me, led.pids()))
    assert share.own_s is None and "exited" in share.unmeasured


def test_ledger_charges_a_batch_to_the_tool_run_the_agent_started_that_used_the_cpu() -> None:
    """L1's fold key names a tool run by the program the AGENT started (h7.detect.channels.l1_sched
    ``_charge``): a shell whose busy python grandchild burns the CPU is the ``sh`` run, and a tool
    started later that sleeps does not take the batch from it; with no sample, the run started last."""
    me = os.getpid()
    led = ProcessLedger(me, armed=True)
    led.close_batch(sample_tree(me))
    sh = subprocess.Popen(["/bin/sh", "-c", f'{sys.executable} -c "{SPIN}" {CPU_DEADLINE_S:g}; true'])
    idle = subprocess.Popen(["sleep", f"{CPU_DEADLINE_S:g}"])
    grand = 0
    try:
        led.on_event(_ev("fork", me, child=sh.pid))
        led.on_event(_ev("exec", sh.pid, filename="/bin/sh"))
        deadline = time.monotonic() + CPU_DEADLINE_S
        while not grand and time.monotonic() < deadline:  # the shell's python child, from /proc
            kids = sample_tree(sh.pid)
            grand = next((p for p in kids if p != sh.pid), 0)
            time.sleep(0.05)
        assert grand, "the shell's busy child never appeared"
        led.on_event(_ev("fork", sh.pid, child=grand))
        led.on_event(_ev("exec", grand, filename=sys.executable))  # under the run: still the sh run
        led.on_event(_ev("fork", me, child=idle.pid))
        led.on_event(_ev("exec", idle.pid, filename="/usr/bin/sleep"))  # started last, sleeps
        assert led.tool_run[grand] == "/bin/sh" and led.last_run == "/usr/bin/sleep"
        share = led.close_batch(_sample_until(led, grand, 0))
        assert share.tools_alive == 3 and share.tool_s >= 0.1, share
        assert share.tool_run == "/bin/sh", share
        assert led.close_batch(None).tool_run == "/usr/bin/sleep"  # no sample: the run started last
    finally:
        if grand:  # the shell's child is not ours to wait for: killed by pid, it is reaped by sh/init
            with contextlib.suppress(ProcessLookupError):
                os.kill(grand, 9)
        for p in (sh, idle):
            p.kill()
            p.wait(timeout=10)


@pytest.mark.parametrize("procs", [None, {}])
def test_ledger_without_a_sample_attributes_nothing(procs: dict[int, int] | None) -> None:
    led = ProcessLedger(100, armed=True)
    led.on_event(_ev("fork", 100, child=101))
    led.on_event(_ev("exec", 101, filename="/usr/bin/pip"))
    led.close_batch(procs)
    share = led.close_batch(procs)
    assert share.own_s is None and share.tools_alive == 1


def test_ledger_threads_and_own_exec_are_the_agent() -> None:
    led = ProcessLedger(100, armed=True)
    led.on_event(_ev("fork", 100, child=100, tid=100))  # a thread: same process
    led.on_event(_ev("exec", 100, filename="/usr/bin/python3"))  # the agent re-exec'd itself
    assert not led.tools
    led.on_event(_ev("fork", 100, child=102))
    led.on_event(_ev("exec", 102, filename="/usr/bin/npm"))
    led.on_event(_ev("fork", 102, child=103))  # the tool's own children are the tool's
    assert led.tools == {102, 103} and led.last_exe == "/usr/bin/npm"


def test_ledger_execs_during_the_baseline_stay_the_agent_s() -> None:
    """A process exec'd while the baseline was learnt (a persistent code kernel) is in the baseline's
    whole-tree CPU: it stays own, so a miner injected into it later is judged; execs after arm() are tools."""
    led = ProcessLedger(100)
    led.on_event(_ev("fork", 100, child=101))
    led.on_event(_ev("exec", 101, filename="/usr/bin/python3"))
    assert not led.tools and 101 in led.own_alive
    led.arm()
    led.on_event(_ev("fork", 101, child=102))  # its later children are the agent's too
    assert 102 in led.own_alive and not led.tools
    led.on_event(_ev("exec", 102, filename="/usr/bin/pytest"))  # ... until they start a new program
    assert led.tools == {102} and 102 not in led.own_alive


def test_ledger_routine_program_runs_are_the_agent_s_own_work() -> None:
    """A program the agent's processes ran during the baseline (a code executor's interpreter) is
    routine: a later run of it, and what that run forks, is measured as own CPU; a run of another
    program is a tool run, and so is a routine run that exec's something else.  Off: all tool runs."""
    for on in (True, False):
        led = ProcessLedger(100, routine_runs=on)
        led.on_event(_ev("fork", 100, child=101))
        led.on_event(_ev("exec", 101, filename="/venv/bin/python"))  # the executor's run, learnt
        led.on_event(_ev("exit", 101))
        assert led.baseline_programs == {"/venv/bin/python"} and not led.tools
        led.arm()
        led.on_event(_ev("fork", 100, child=102))
        led.on_event(_ev("exec", 102, filename="/venv/bin/python"))  # the same program again
        led.on_event(_ev("fork", 102, child=103))  # a worker it forks
        led.on_event(_ev("fork", 100, child=104))
        led.on_event(_ev("exec", 104, filename="/usr/bin/pytest"))  # not in the baseline
        assert led.tools == {102, 103, 104}  # every run after the baseline is a tool run (L2, status)
        assert led.routine == ({102, 103} if on else set())
        led.close_batch({100: 0, 102: 0, 103: 0, 104: 0})
        share = led.close_batch({100: 10**7, 102: 5 * 10**8, 103: 4 * 10**8, 104: 2 * 10**8})
        assert share.own_s == pytest.approx(0.91 if on else 0.01), share
        assert share.tool_s == pytest.approx(0.2 if on else 1.1), share
        led.on_event(_ev("exec", 103, filename="/usr/bin/cc"))  # the worker starts another program
        led.on_event(_ev("exit", 102))
        assert led.routine == set() and led.tools >= {103, 104}


def test_l1_keeps_the_routine_programs_of_a_saved_baseline() -> None:
    """A baseline saved to a file names its routine programs; a sensor that loads it judges them so
    (and a file from before names none: every run after it is a tool run, as before)."""
    import numpy as np

    from h7.batch import AgentInfo
    from h7.config import EngineConfig
    from h7.decode import STATS_DTYPE
    from h7.detect.channels.base import ChannelContext
    from h7.detect.channels.l1_sched import SchedChannel

    ns = 10**9
    cfg = EngineConfig(read_proc=False)
    info = AgentInfo(1, "python:100:1", 100, "/venv/bin/python", ["/venv/bin/python"], 0)
    ctx = ChannelContext(agent=1, agent_id=info.agent_id, info=info, config=cfg)
    learnt = SchedChannel(cfg)
    rng = np.random.default_rng(5)
    for i in range(20):
        st = np.zeros(1, STATS_DTYPE)[0]
        for f in ("oncpu_hist", "offcpu_hist", "burst_hist", "sleep_hist", "rqwait_hist"):
            st[f][15:25] = rng.poisson(8, 10)
        st["switches_voluntary"] = 80
        if i < 2:  # the executor ran its interpreter twice while the baseline was learnt
            learnt.on_events(
                [_ev("fork", 100, child=101 + i), _ev("exec", 101 + i, filename="/venv/bin/python")], ctx
            )
        learnt.learn(Batch(i * ns, (i + 1) * ns, stats={1: st}), ctx)
    learnt.finish_baseline(ctx)
    state = learnt.to_state()
    assert state["routine_programs"] == ["/venv/bin/python"]
    back = SchedChannel(cfg)
    back.from_state(state)
    back.on_events([_ev("fork", 100, child=200), _ev("exec", 200, filename="/venv/bin/python")], ctx)
    assert back.ledger is not None and back.ledger.routine == {200}
    del state["routine_programs"]
    old = SchedChannel(cfg)
    old.from_state(state)
    old.on_events([_ev("fork", 100, child=200), _ev("exec", 200, filename="/venv/bin/python")], ctx)
    assert old.ledger is not None and old.ledger.tools == {200} and not old.ledger.routine


def test_batch_procs_survive_the_journal_record() -> None:
    b = Batch(1, 2, procs={1: {100: 5_000_000, 101: 7}})
    assert Batch.from_record(b.to_record()).procs == b.procs
    assert "procs" not in Batch(1, 2).to_record()  # older readers see what they always saw


def test_engine_samples_live_only_and_only_for_a_channel_that_asks() -> None:
    """The live engine puts this process's CPU in the batch (journalled with it); a replay
    engine (no /proc) and an engine without L1's attribution read nothing."""
    from h7.batch import AgentInfo
    from h7.config import EngineConfig
    from h7.detect.engine import Engine

    info = AgentInfo(1, "python:1:1", os.getpid(), sys.executable, [sys.executable], 0)

    def sampled(**cfg: Any) -> dict[int, dict[int, int]]:
        engine = Engine(EngineConfig(**cfg), [info])
        b = Batch(0, 10**9)
        engine.sample_procs(b)
        return b.procs

    on = {"L1": {"attribute_tools": True}}
    live = sampled(channels=["L1", "L4"], channel_settings=on)
    assert os.getpid() in live[1] and live[1][os.getpid()] > 0, live
    assert sampled(channels=["L1", "L4"], channel_settings=on, read_proc=False) == {}
    assert os.getpid() in sampled(channels=["L1", "L4"])[1]  # on by default (session 12, docs/detection.md)
    assert sampled(channels=["L4"]) == {}
    assert sampled(channels=["L1"], channel_settings={"L1": {"attribute_tools": False}}) == {}
