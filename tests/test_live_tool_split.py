"""The kernel counts a tool run's scheduling apart from the agent's own processes (L1).

Real BPF, real processes.  After ``Sensor.mark_tool_runs`` (the engine calls it when the
agent's baseline ends) a process of the agent other than its root that execs is a tool run
(bpf/h7.h ``H7_SCOPE_TOOL``), and so is everything it forks; its switches, bursts, sleeps
and wakeups are counted in the ``tool_*`` stats as well as in the totals.  The agent's own
threads and the children it forks without exec are not.  Before the mark nothing is a tool
run: the baseline's programs are the agent's repertoire, as in ``h7.detect.proctree``.

Named test_live_* so vmtest runs it in every guest kernel.
"""

from __future__ import annotations

import select
import subprocess
import sys
import time
from typing import Any

import numpy as np
from conftest import TIMESCALE

#: an agent that, per line on stdin, runs ``exec`` (a python child that forks a grandchild; both
#: sleep 3 ms at a time, N times) or ``fork`` (a child forked without exec doing the same), and
#: answers each with a line once it is done
AGENT = r"""
import os, subprocess, sys, time
N = int(sys.argv[1])
SLEEPER = ("import os, time\n"
           "pid = os.fork()\n"
           "for _ in range(%d): time.sleep(0.003)\n"
           "if pid: os.waitpid(pid, 0)\n"
           "else: os._exit(0)\n") % N
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "exec":
        subprocess.run([sys.executable, "-c", SLEEPER], check=True, timeout=120)
    elif cmd == "fork":
        pid = os.fork()
        if pid == 0:
            for _ in range(N):
                time.sleep(0.003)
            os._exit(0)
        os.waitpid(pid, 0)
    print("done", flush=True)
"""
N = 300


def _round(sensor: Any, p: subprocess.Popen[str], agent: int, cmd: str) -> tuple[np.ndarray, frozenset[int]]:
    """Run one ``cmd`` in the agent; the stats of a batch holding all of it, and its tool_split."""
    assert p.stdin is not None and p.stdout is not None
    sensor.take_batch(time.monotonic_ns(), time.monotonic_ns())  # counters from here on
    t0 = time.monotonic_ns()
    p.stdin.write(cmd + "\n")
    p.stdin.flush()
    end = time.monotonic() + 60 * TIMESCALE
    ready: list[Any] = []
    while time.monotonic() < end and not ready:
        sensor.poll(0.05)
        ready, _, _ = select.select([p.stdout], [], [], 0.05)  # the agent answers when done
    assert ready, f"the agent did not finish its {cmd!r} round"
    assert p.stdout.readline().strip() == "done"
    b = sensor.take_batch(t0, time.monotonic_ns())
    return b.stats[agent], b.tool_split


def _agent() -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", AGENT, str(N)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def test_an_exec_d_tool_and_its_children_are_counted_apart_after_the_mark(sensor: Any) -> None:
    p = _agent()
    try:
        info = sensor.add_agent(p.pid)
        sensor.mark_tool_runs(info.agent)
        tool, split = _round(sensor, p, info.agent, "exec")
        assert info.agent in split
        # two sleepers of N naps each: their sleeps and voluntary switches are the tool run's
        # (the grandchild forked without exec inherits the mark)
        assert int(tool["tool_switches_voluntary"]) >= 2 * N * 0.9, tool["tool_switches_voluntary"]
        assert int(np.sum(tool["tool_sleep_hist"])) >= 2 * N * 0.9
        assert int(tool["tool_wakeups"]) >= 2 * N * 0.9
        assert int(tool["tool_wakeups_new"]) >= 1  # the grandchild's first wakeup
        assert int(tool["tool_oncpu_ns"]) > 0
        # counted in the totals as well: the whole tree's counts keep their meaning
        assert int(tool["switches_voluntary"]) >= int(tool["tool_switches_voluntary"])
        assert np.all(tool["sleep_hist"] >= tool["tool_sleep_hist"])
        # a child the agent forks WITHOUT exec is the agent's own code: nothing counted apart
        own, split = _round(sensor, p, info.agent, "fork")
        assert info.agent in split
        assert int(own["switches_voluntary"]) >= N * 0.9
        assert int(own["tool_switches_voluntary"]) == 0
        assert int(np.sum(own["tool_sleep_hist"])) == 0 and int(own["tool_wakeups"]) == 0
    finally:
        p.kill()
        p.wait()


def test_before_the_mark_nothing_is_a_tool_run(sensor: Any) -> None:
    p = _agent()
    try:
        info = sensor.add_agent(p.pid)
        st, split = _round(sensor, p, info.agent, "exec")
        assert info.agent not in split
        assert int(st["switches_voluntary"]) >= 2 * N * 0.9
        assert int(st["tool_switches_voluntary"]) == 0 and int(st["tool_wakeups"]) == 0
        assert int(np.sum(st["tool_burst_hist"])) == 0
    finally:
        p.kill()
        p.wait()
