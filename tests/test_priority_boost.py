"""`[sensor] priority_boost` and `[sensor] realtime`: h7 attach raises its own priority once, bounded,
and a refusal is a warning.

Each case runs in a real child process (nice is per process/thread and cannot
be raised back without privilege, so the test process itself is never
changed); the niceness is read back from the kernel (/proc/<pid>/task/<tid>/stat).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from h7 import pipeline
from h7.config import SensorConfig, load
from h7.errors import UsageError

CHILD = textwrap.dedent(
    """
    import json, os, sys, threading
    from h7.pipeline import boost_priority

    def kernel_nice(tid):
        stat = open(f"/proc/self/task/{tid}/stat").read()
        return int(stat.rsplit(")", 1)[1].split()[16])  # field 19, nice

    if sys.argv[2] == "drop":
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
    before = kernel_nice(threading.get_native_id())
    now, err = boost_priority(int(sys.argv[1]))
    seen = {}
    t = threading.Thread(target=lambda: seen.update(thread=kernel_nice(threading.get_native_id())))
    t.start()
    t.join()
    main = kernel_nice(threading.get_native_id())
    print(json.dumps({"before": before, "now": now, "err": err, "main": main, **seen}))
    """
)


def _child(boost: int, drop: bool = False) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(boost), "drop" if drop else "keep"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(out.stdout))


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="lowering nice needs root (CAP_SYS_NICE)")


@needs_root
def test_boost_lowers_nice_and_later_threads_inherit_it() -> None:
    r = _child(4)
    want = max(-20, int(str(r["before"])) - 4)
    assert r["err"] == ""
    assert r["now"] == r["main"] == want
    assert r["thread"] == want  # a thread started afterwards (the sink client's) runs boosted too


@needs_root
def test_boost_zero_changes_nothing() -> None:
    r = _child(0)
    assert r["err"] == "" and r["now"] == r["main"] == r["before"]


@needs_root
def test_a_refused_boost_is_a_message_not_an_error() -> None:
    r = _child(4, drop=True)  # an unprivileged process may not lower its nice value
    assert r["now"] == r["main"] == r["before"]
    assert "cannot raise the sensor's priority" in str(r["err"]) and str(r["before"]) in str(r["err"])


def test_config_default_range_and_key(tmp_path: Path) -> None:
    assert SensorConfig().priority_boost == 4
    for bad in (-1, 40):
        with pytest.raises(UsageError, match="priority_boost"):
            SensorConfig(priority_boost=bad)
    cfg = tmp_path / "h7.toml"
    cfg.write_text("[sensor]\npriority_boost = 0\n")
    assert load(cfg).sensor.priority_boost == 0


RT_CHILD = textwrap.dedent(
    """
    import json, os, resource, sys, threading, time
    import h7.pipeline as p

    def policy():  # without SCHED_RESET_ON_FORK's flag bit
        return os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK

    if sys.argv[2] == "drop":
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
    if sys.argv[3] != "0":  # a small budget, to see it end
        p.RT_SOFT_US, p.RT_HARD_US = int(sys.argv[3]), 5_000_000
    err = p.go_realtime(int(sys.argv[1]))
    out = {"err": err, "policy": policy(), "prio": os.sched_getparam(0).sched_priority,
           "rttime": list(resource.getrlimit(resource.RLIMIT_RTTIME))}
    seen = {}
    t = threading.Thread(target=lambda: seen.update(policy=policy(),
                                                     nice=os.getpriority(os.PRIO_PROCESS, 0)))
    t.start()
    t.join()
    out["thread"] = seen
    if sys.argv[3] != "0":  # spin (bounded) until SIGXCPU puts the thread back to SCHED_OTHER
        end = time.thread_time() + 3.0
        while policy() != os.SCHED_OTHER and time.thread_time() < end:
            pass
        out["after_spin"] = policy()
    print(json.dumps(out))
    """
)


def _rt_child(priority: int, drop: bool = False, budget_us: int = 0) -> tuple[dict[str, Any], str]:
    out = subprocess.run(
        [sys.executable, "-c", RT_CHILD, str(priority), "drop" if drop else "keep", str(budget_us)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(out.stdout)), out.stderr


@needs_root
def test_realtime_runs_the_main_thread_fifo_and_later_threads_normal() -> None:
    r, _ = _rt_child(1)
    assert r["err"] == "" and r["policy"] == os.SCHED_FIFO and r["prio"] == 1
    assert r["rttime"] == [pipeline.RT_SOFT_US, pipeline.RT_HARD_US]
    # SCHED_RESET_ON_FORK: a thread started afterwards (L2's index build, the sink client) is no RT thread
    assert r["thread"] == {"policy": os.SCHED_OTHER, "nice": 0}


@needs_root
def test_realtime_off_changes_nothing() -> None:
    r, _ = _rt_child(0)
    assert r["err"] == "" and r["policy"] == os.SCHED_OTHER and r["prio"] == 0


@needs_root
def test_a_spent_realtime_budget_drops_to_normal_priority() -> None:
    """50 ms of CPU without sleeping: SIGXCPU, and the thread leaves SCHED_FIFO, with one warning."""
    r, err = _rt_child(1, budget_us=50_000)
    assert r["policy"] == os.SCHED_FIFO and r["after_spin"] == os.SCHED_OTHER, r
    assert err.count("used its real-time budget") == 1, err


@needs_root
def test_a_refused_realtime_is_a_message_not_an_error() -> None:
    r, _ = _rt_child(1, drop=True)  # no CAP_SYS_NICE, RLIMIT_RTPRIO 0
    assert r["policy"] == os.SCHED_OTHER and r["prio"] == 0
    assert "cannot run the sensor at SCHED_FIFO 1" in str(r["err"]), r


def test_realtime_config_default_range_and_key(tmp_path: Path) -> None:
    assert SensorConfig().realtime == 0
    for bad in (-1, 100):
        with pytest.raises(UsageError, match="realtime"):
            SensorConfig(realtime=bad)
    cfg = tmp_path / "h7.toml"
    cfg.write_text("[sensor]\nrealtime = 1\n")
    assert load(cfg).sensor.realtime == 1
