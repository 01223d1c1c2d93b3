"""`[sensor] priority_boost`: h7 attach lowers its own nice value once, and a refusal is a warning.

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

import pytest

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
