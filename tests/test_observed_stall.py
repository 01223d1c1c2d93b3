"""A file a watched process serves itself cannot hold the detection thread.

A stat, open or read of a path on a FUSE filesystem waits for the filesystem's server to
answer; an agent that serves its own files (``fusermount3`` lets any user mount one) can answer
its own requests and leave the sensor's unanswered, since each request names the calling task.
Before ``h7.safeio.Observer``, L2's look at such a file (content identity, the written-then-read
rule) blocked the thread that runs every channel: all five were blind for as long as the agent
liked.  These tests mount real FUSE filesystems (``redteam/fusefs.py``, spoken over /dev/fuse):
one that answers nothing, and one that serves an agent's exec and stalls only this process.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import TIMESCALE

from h7.errors import UsageError
from h7.safeio import Observer, StallError, progress
from redteam.fusefs import OneFileFS, dead_mount, fuse_available

pytestmark = pytest.mark.skipif(fuse_available() is not None, reason=f"FUSE: {fuse_available()}")


def _until(pred: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout * TIMESCALE
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_a_stalled_stat_is_given_up_and_its_mount_cools(tmp_path: Path) -> None:
    obs = Observer(timeout_s=0.3, cooldown_s=30.0, workers=2)
    with dead_mount(tmp_path / "dead") as mnt:
        t0 = time.monotonic()
        with pytest.raises(StallError, match=r"no answer in 0\.3 s") as e:
            obs.stat(str(mnt / "tool"))
        waited = time.monotonic() - t0
        assert e.value.errno == 110  # ETIMEDOUT: an OSError like any unreadable file
        assert 0.3 <= waited < 0.3 + 5.0 * TIMESCALE
        # the same filesystem again: skipped at once, not another wait
        t0 = time.monotonic()
        with pytest.raises(StallError, match="stalled an earlier look"):
            obs.read(str(mnt / "other"), lambda f: f.read(4))
        assert time.monotonic() - t0 < 0.25
        stalls = obs.take_stalls()
        assert [(s.op, s.reason, s.mount, s.fstype) for s in stalls] == [
            ("stat", "timeout", str(mnt), "fuse"),
            ("read", "mount-cooling", str(mnt), "fuse"),
        ]
        assert obs.take_stalls() == []  # taken once
        assert obs.status()["cooling"] == [str(mnt)]
        # other filesystems are looked at as before
        f = tmp_path / "plain"
        f.write_bytes(b"\x7fELF")
        assert obs.read(str(f), lambda fh: fh.read(4)) == b"\x7fELF"
    # the stuck worker is released when the filesystem goes away, and reused
    assert _until(lambda: obs.status()["workers_stuck"] == 0)


def test_with_every_worker_stuck_calls_fail_at_once(tmp_path: Path) -> None:
    obs = Observer(timeout_s=0.2, cooldown_s=30.0, workers=2)
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    with dead_mount(tmp_path / "a") as a, dead_mount(tmp_path / "b") as b:
        for m in (a, b):
            with pytest.raises(StallError):
                obs.stat(str(m / "x"))
        assert obs.status()["workers_stuck"] == 2
        t0 = time.monotonic()
        with pytest.raises(StallError, match="all 2 inspection threads"):
            obs.stat(str(plain))
        assert time.monotonic() - t0 < 0.25
        assert [s.reason for s in obs.take_stalls()] == ["timeout", "timeout", "workers-busy"]
    assert _until(lambda: obs.status()["workers_stuck"] == 0)
    assert obs.stat(str(plain)).st_size == 1


def test_a_slow_look_that_progresses_is_not_a_stall(tmp_path: Path) -> None:
    """Hashing a big file on a loaded host is slow, not stalled: the deadline is on no progress."""
    obs = Observer(timeout_s=0.2, cooldown_s=30.0, workers=2)

    def slow(ticking: bool) -> str:
        for _ in range(8):  # 0.48 s in all, more than twice the timeout
            time.sleep(0.06)
            if ticking:
                progress()
        return "done"

    assert obs.call("read", str(tmp_path / "big"), lambda: slow(True)) == "done"
    assert obs.take_stalls() == []
    with pytest.raises(StallError):
        obs.call("read", str(tmp_path / "big"), lambda: slow(False))
    assert [s.reason for s in obs.take_stalls()] == ["timeout"]


def test_a_stall_behind_a_proc_link_cools_the_filesystem_not_proc(tmp_path: Path) -> None:
    """``/proc/<pid>/exe`` of a program run from a filesystem that stalls: the mount that cools
    is the program's (read through the link before the look), never procfs -- cooling /proc
    would skip the look at every process's exe for a minute (the live run of
    ``g4_fuse_served_padded_dash`` did that while the program exited during the look)."""
    import subprocess
    import sys

    obs = Observer(timeout_s=0.3, cooldown_s=30.0, workers=2)
    sleep = os.path.realpath(shutil.which("sleep") or "/bin/sleep")
    mnt = tmp_path / "served"
    with OneFileFS(mnt, "tool", Path(sleep).read_bytes(), stall=lambda tgid: tgid == os.getpid()):
        # started by a child python: this process serves the mount (see redteam/fusefs.py)
        starter = subprocess.Popen(
            [sys.executable, "-c", f"import os; os.execv({str(mnt / 'tool')!r}, ['tool', '20'])"]
        )
        try:
            assert _until(lambda: os.readlink(f"/proc/{starter.pid}/exe") == str(mnt / "tool"))
            # the channels' "is there an exe to look at" reads the link, not the file behind it
            from h7.detect.channels.base import ProcReader

            got: list[str | None] = []
            reader = ProcReader(True)
            t = threading.Thread(target=lambda: got.append(reader.exe_file(starter.pid)), daemon=True)
            t.start()
            t.join(2 * TIMESCALE)
            assert not t.is_alive(), "exe_file stat'ed the file behind /proc/<pid>/exe"
            assert got == [f"/proc/{starter.pid}/exe"]
            # the program exits while the look at it waits: its link is gone when the look is given up
            threading.Timer(0.1, starter.kill).start()
            with pytest.raises(StallError):
                obs.stat(f"/proc/{starter.pid}/exe")
            assert starter.wait(5) is not None
            (stall,) = obs.take_stalls()
            assert (stall.mount, stall.fstype, stall.reason) == (str(mnt), "fuse", "timeout")
            assert obs.status()["cooling"] == [str(mnt)]
            assert obs.stat(f"/proc/{os.getpid()}/exe").st_size > 0  # other exes: looked at
        finally:
            starter.kill()
            starter.wait()


def test_the_bounds_are_validated() -> None:
    from h7.config import EngineConfig

    with pytest.raises(UsageError, match="inspect_timeout_s"):
        EngineConfig.from_dict({"l2": {"inspect_timeout_s": 0}})
    with pytest.raises(UsageError, match="inspect_cooldown_s"):
        EngineConfig.from_dict({"l2": {"inspect_cooldown_s": -1}})


def test_an_agent_served_file_cannot_hold_l2(sensor: Any, tmp_path: Path) -> None:
    """Real BPF, a real agent: it runs a program from its own FUSE filesystem, which answers
    the agent and never this process (the sensor), then starts a shell.  L2's look at the
    program is given up after its timeout and certified as INSPECTION_STALLED, and the shell
    right behind it in the same batch is still judged.  The old code never returned."""
    from test_live_exec_identity import run_agent

    from h7.config import EngineConfig
    from h7.detect.channels.base import ChannelContext, ProcReader
    from h7.detect.channels.l2_exec import ExecChannel

    sleep = os.path.realpath(shutil.which("sleep") or "/bin/sleep")
    mnt = tmp_path / "served"
    tool = str(mnt / "tool")
    with OneFileFS(mnt, "tool", Path(sleep).read_bytes(), stall=lambda tgid: tgid == os.getpid()) as fs:
        act = (
            "import subprocess\n"
            f"subprocess.run([{tool!r}, '0.2'])\n"
            "subprocess.run(['/bin/sh', '-c', 'exit 0'])\n"
        )
        _pid, w = run_agent(sensor, act)
        try:
            ran = w.wait(lambda e: e["type"] == "exec" and e["filename"] == tool)
            shell = w.wait(lambda e: e["type"] == "exec" and e["filename"] == "/bin/sh")
            assert ran is not None and shell is not None, "the kernel did not report the execs"
            assert fs.served > 0  # the agent's own exec was served
            cfg = EngineConfig.from_dict({"l2": {"inspect_timeout_s": 0.5}})
            ch = ExecChannel(cfg)
            ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(False))
            got: list[Any] = []
            t = threading.Thread(target=lambda: got.append(ch.on_events([ran, shell], ctx)), daemon=True)
            t.start()
            t.join(60 * TIMESCALE)  # the first call also builds the host's binary index
            assert not t.is_alive(), "L2 is held by a file the agent serves"
        finally:
            w.stop()
        assert fs.held > 0  # this process's looks were left unanswered
    by_code: dict[str, list[Any]] = {}
    for a in got[0]:
        by_code.setdefault(a.code, []).append(a)
    assert sorted(by_code) == ["INSPECTION_STALLED", "LLM_AGENT_HIJACK"], by_code
    (stall,) = by_code["INSPECTION_STALLED"]
    assert stall.key == f"fuse:{mnt}"
    ev = stall.evidence
    assert ev["mount"] == str(mnt) and ev["fstype"] == "fuse" and "timeout" in ev["reasons"]
    assert ev["event_filename"] == tool and ev["while_judging"] == "exec"
    assert ev["waited_ms"] >= 500
    assert ch.status()["inspection_stalls"] >= 1


def _fds_on(path: Path) -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}") == str(path)
        except OSError:
            continue
    return n


def test_a_held_file_stays_that_file_and_a_late_answer_is_closed(tmp_path: Path) -> None:
    """``hold`` keeps the file open for the caller; a worker answering after the caller gave up closes it.

    Why held: L2 proves ``/proc/<pid>/exe`` is the executed file, then looks at it again for
    its code and marker words; a process that exec'd meanwhile turned the link into another
    program (session 30's silent miss).  The late-answer half: no fd leaks per stall.
    """
    obs = Observer(timeout_s=0.2, cooldown_s=30.0, workers=2)
    tool = tmp_path / "tool"
    tool.write_bytes(b"\x7fELF-one")
    fd, head = obs.hold(str(tool), lambda f: f.read(4))
    try:
        assert head == b"\x7fELF"
        tool.rename(tmp_path / "moved")
        tool.write_bytes(b"another file")
        assert obs.read(f"/proc/self/fd/{fd}", lambda f: f.read()) == b"\x7fELF-one"
    finally:
        os.close(fd)
    slow = tmp_path / "slow"
    slow.write_bytes(b"x")
    go = threading.Event()

    def wait_then_read(f: Any) -> bytes:
        go.wait(10.0 * TIMESCALE)  # no progress(): a stall
        return bytes(f.read(1))

    with pytest.raises(StallError, match="no answer"):
        obs.hold(str(slow), wait_then_read)
    assert _fds_on(slow) >= 1  # the worker still has it open
    go.set()
    assert _until(lambda: _fds_on(slow) == 0), "the late answer's fd was not closed"
    assert _until(lambda: obs.status()["workers_stuck"] == 0)
