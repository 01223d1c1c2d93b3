"""The kernel's scope map follows the agent's tasks exactly: none lost, none left behind.

Real BPF, real processes.  Two ways the scope used to go wrong:

* A non-leader thread that calls execve takes over the leader's pid (de_thread): the scope
  entry stayed under the thread's old tid, so the process ran on out of scope after its exec
  (an agent escaped every channel with ``threading.Thread(target=os.execv)``), and the
  leader's exit went out as the process's exit (the agent was taken for gone).
* A leader that exits alone (exit(2) on the main thread) went out as the process's exit while
  its threads went on running the agent's code: ``h7 attach`` stopped watching.
* An entry for a tid that no longer exists (a thread that exited while ``add_agent`` seeded
  it, an agent retired with entries left) waited for an unrelated task to reuse the tid, and
  that task was then judged as the agent's.

Named test_live_* so vmtest runs it in every guest kernel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from conftest import TIMESCALE

from h7.decode import SCOPE_DTYPE

THREAD_EXEC_AGENT = r"""
import os, sys, threading
sys.stdin.readline()                  # blocked here while H7 attaches
def go():
    os.execv("/bin/sh", ["sh", "-c", "/bin/true; cat /etc/hostname >/dev/null; sleep 0.2"])
t = threading.Thread(target=go)
t.start()
t.join()
"""


def _collect(sensor: Any, until: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Urgent records drained until ``until(events)`` holds (bounded in time)."""
    events: list[dict[str, Any]] = []
    end = time.monotonic() + timeout * TIMESCALE
    while time.monotonic() < end and not until(events):
        events.extend(sensor.poll(0.05))
    return events


def test_exec_from_a_thread_keeps_the_process_in_scope(sensor: Any) -> None:
    p = subprocess.Popen(
        [sys.executable, "-c", THREAD_EXEC_AGENT], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        info = sensor.add_agent(p.pid)
        tids_before = set(sensor.watched_tids())
        assert p.pid in tids_before
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.close()
        events = _collect(
            sensor, lambda evs: any(e["type"] == "exit" and e["pid"] == p.pid == e["tid"] for e in evs)
        )
        p.wait(timeout=10 * TIMESCALE)
    finally:
        p.kill()
        p.wait()
    mine = [e for e in events if e["agent"] == info.agent]
    execs = [e for e in mine if e["type"] == "exec"]
    # (the agent's own python exec may be there too: Popen returns before the exec tracepoint)
    sh = [e for e in execs if e["pid"] == p.pid and e["filename"] == "/bin/sh"]
    assert sh, execs
    assert sh[0]["old_tid"] != p.pid, "the exec was not made by a non-leader thread"
    # after the take-over the shell is still the agent's: its children's execs are seen
    ran = {e["filename"] for e in execs if e["pid"] != p.pid}
    assert {"/bin/true", "/usr/bin/cat"} <= ran or {"/bin/true", "/bin/cat"} <= ran, ran
    # one exit of the process, the real one, after everything it ran
    exits = [i for i, e in enumerate(mine) if e["type"] == "exit" and e["pid"] == p.pid == e["tid"]]
    assert len(exits) == 1, [mine[i] for i in exits]
    assert exits[0] > max(i for i, e in enumerate(mine) if e["type"] == "exec"), mine
    # and nothing of it is left in the scope map under any tid
    deadline = time.monotonic() + 5 * TIMESCALE
    while time.monotonic() < deadline and any(a == info.agent for a, _ in sensor.watched_tids().values()):
        time.sleep(0.05)
    assert not [t for t, (a, _) in sensor.watched_tids().items() if a == info.agent]


LEADER_EXIT_AGENT = r"""
import ctypes, os, sys, threading, time
sys.stdin.readline()                  # blocked here while H7 attaches
def go():
    time.sleep(0.5 * float(sys.argv[1]))
    os.system("/bin/true; cat /etc/hostname >/dev/null")
    time.sleep(0.5 * float(sys.argv[1]))
    os._exit(0)
threading.Thread(target=go).start()
ctypes.CDLL(None).syscall(60, 0)      # exit(2): the main thread only
"""


def test_a_leader_exiting_alone_is_not_the_process_exit(sensor: Any) -> None:
    p = subprocess.Popen(
        [sys.executable, "-c", LEADER_EXIT_AGENT, str(TIMESCALE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        info = sensor.add_agent(p.pid)
        st = sensor.agents[info.agent]
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.close()
        # while the worker thread sleeps the leader is a zombie: the process is not gone
        time.sleep(0.25 * TIMESCALE)
        early = sensor.poll(0.05)
        sensor._prune_dead()
        assert p.pid in st.live, "the agent was dropped while its thread still runs"
        assert not [e for e in early if e["type"] == "exit" and e["pid"] == p.pid], early
        events = early + _collect(
            sensor, lambda evs: any(e["type"] == "exit" and e["pid"] == p.pid for e in evs)
        )
        p.wait(timeout=10 * TIMESCALE)
    finally:
        p.kill()
        p.wait()
    mine = [e for e in events if e["agent"] == info.agent]
    ran = {e["filename"] for e in mine if e["type"] == "exec"}
    assert "/bin/sh" in ran and ("/bin/true" in ran), ran
    exits = [i for i, e in enumerate(mine) if e["type"] == "exit" and e["pid"] == p.pid]
    assert len(exits) == 1 and mine[exits[0]]["tid"] == p.pid, [mine[i] for i in exits]
    assert exits[0] > max(i for i, e in enumerate(mine) if e["type"] == "exec"), mine


def test_threads_exiting_together_send_one_exit_record(sensor: Any) -> None:
    """exit_group with many threads: each thread's hook may see the group dead; one record goes out."""
    agent = r"""
import os, sys, threading
sys.stdin.readline()
ev = threading.Event()
for _ in range(16):
    threading.Thread(target=ev.wait, daemon=True).start()
os._exit(3)
"""
    p = subprocess.Popen([sys.executable, "-c", agent], stdin=subprocess.PIPE, text=True)
    try:
        info = sensor.add_agent(p.pid)
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.close()
        events = _collect(sensor, lambda evs: any(e["type"] == "exit" and e["pid"] == p.pid for e in evs))
        assert p.wait(timeout=10 * TIMESCALE) == 3
        events += _collect(sensor, lambda evs: False, timeout=0.3)
    finally:
        p.kill()
        p.wait()
    exits = [e for e in events if e["agent"] == info.agent and e["type"] == "exit" and e["pid"] == p.pid]
    assert len(exits) == 1, exits
    assert exits[0]["tid"] == p.pid and exits[0]["exit_status"] == 3, exits[0]


def _free_tid() -> int:
    """A tid no task has now (taken from the top of the pid space, checked in /proc)."""
    top = int(Path("/proc/sys/kernel/pid_max").read_text())
    for tid in range(top - 1, top - 1000, -1):
        if not os.path.exists(f"/proc/{tid}"):
            return tid
    raise AssertionError("no free tid near pid_max")


def test_a_seed_for_a_thread_gone_before_it_landed_is_taken_back(sensor: Any) -> None:
    """The seeding race, made deterministic: the entry is written for a tid that has no task."""
    tid = _free_tid()
    entry = np.zeros(1, SCOPE_DTYPE)
    entry["agent"], entry["tgid"] = 7, tid
    value = entry.tobytes()
    sensor._maps["scope"].update(tid.to_bytes(4, "little"), value)
    assert tid in sensor.watched_tids()
    assert sensor._unseed_if_gone(tid, tid, value) is True
    assert tid not in sensor.watched_tids()
    # a live thread keeps its seed
    me = threading.get_native_id()
    assert sensor._unseed_if_gone(os.getpid(), me, value) is False


def test_retiring_an_agent_clears_its_stale_entries_and_keeps_a_live_one(sensor: Any) -> None:
    p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        info = sensor.add_agent(p.pid)
        st = sensor.agents[info.agent]
        # a process the kernel put in scope whose fork record the ring lost: not in `live`
        st.live.clear()
        assert sensor.retire_dead(after_batches=1) == []
        assert p.pid in st.live, "a live process in the agent's scope was retired"
        stale = _free_tid()
        entry = np.zeros(1, SCOPE_DTYPE)
        entry["agent"], entry["tgid"] = info.agent, stale
        sensor._maps["scope"].update(stale.to_bytes(4, "little"), entry.tobytes())
    finally:
        assert p.stdin is not None
        p.stdin.close()
        p.wait(timeout=10 * TIMESCALE)
    deadline = time.monotonic() + 5 * TIMESCALE
    while time.monotonic() < deadline and st.live:
        sensor.poll(0.05)
        sensor._prune_dead()
    assert not st.live
    assert sensor.retire_dead(after_batches=1) == [info.agent]
    assert stale not in sensor.watched_tids(), "a retired agent's stale entry stayed in scope"
