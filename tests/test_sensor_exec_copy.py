"""Real BPF: a program the agent dropped, copied by a process outside the agent, run by the agent.

Red-team round 9's ``g4r9_written_exec_laundered_by_copier`` (held out, missed in both modes until
session 28): the kernel's ``written_files`` mark is made by an agent process's close, and a sync job
outside every agent that copies the agent's file makes a new inode nobody in the agent closed.  The
copy now carries the mark when the kernel does the copying (``copy_mark`` in bpf/h7.bpf.c:
sendfile(2), which Python's ``shutil.copyfile`` uses, and copy_file_range(2), which coreutils ``cp``
and ``os.copy_file_range`` use): the exec is ``agent-written`` with ``written-via-copy`` and the
time of the agent's own write.

The copier here is the test process (never watched), with its own steps, not round 9's script.
A file the test wrote, copied the same ways, stays unmarked: the mark follows the agent's bytes,
not the act of copying.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_sensor_exec_layers import TOOL, _certified, _exec_of
from test_sensor_gaps import watched

from h7.sensor.sensor import COPY_ENTER_PROGRAMS

#: fixtures this module takes from test_sensor_gaps (a watched gap agent)
FIXTURES = (watched,)


def _sendfile(src: Path, dst: Path) -> None:
    """shutil.copyfile: sendfile(2) on Linux for regular files."""
    shutil.copyfile(src, dst)


def _copy_file_range(src: Path, dst: Path) -> None:
    """os.copy_file_range until the source is exhausted (bounded: the tool is < 1 MiB)."""
    with open(src, "rb") as i, open(dst, "wb") as o:
        for _ in range(1024):
            if os.copy_file_range(i.fileno(), o.fileno(), 1 << 20) == 0:
                break


def _cp(src: Path, dst: Path) -> None:
    """coreutils cp (copy_file_range since 9.0; Debian 12 ships 9.1)."""
    subprocess.run(["cp", str(src), str(dst)], check=True, timeout=30)


COPIERS: dict[str, Callable[[Path, Path], None]] = {
    "sendfile": _sendfile,
    "copy_file_range": _copy_file_range,
    "cp": _cp,
}


@pytest.mark.parametrize("how", sorted(COPIERS))
def test_a_copy_of_the_agents_drop_made_outside_the_agent_is_agent_written(
    watched: Any, tmp_path: Path, how: str
) -> None:
    """The agent writes a program, the (unwatched) test copies it to bin/fmt and a copy of that
    copy to bin/fmt2, and copies a program of its own to bin/theirs; the agent runs all three.
    Both copies of the drop are agent-written via a copy, with the time of the agent's write;
    L2 certifies AGENT_WRITTEN_EXEC with ``written_via: copy``.  The test's own program is not."""
    sensor, agent, col = watched
    state = {h.program: h.state for h in sensor.hooks}
    assert all(state.get(p) == "attached" for p in COPY_ENTER_PROGRAMS), state
    copy = COPIERS[how]
    outbox, bindir = tmp_path / "outbox", tmp_path / "bin"
    outbox.mkdir()
    bindir.mkdir()
    baseline_end = time.monotonic_ns()  # bpf_ktime_get_ns is CLOCK_MONOTONIC
    assert agent.cmd(f"copy {TOOL} {outbox / 'fmt.bin'}") == str(Path(TOOL).stat().st_size)
    shutil.copyfile(TOOL, tmp_path / "mine")  # written by this (unwatched) process
    copy(outbox / "fmt.bin", bindir / "fmt")
    copy(bindir / "fmt", bindir / "fmt2")  # a copy of the copy carries the mark on
    copy(tmp_path / "mine", bindir / "theirs")
    for name in ("fmt", "fmt2", "theirs"):
        (bindir / name).chmod(0o755)  # a mode change is no write
        assert agent.cmd(f"run {bindir / name}") == "rc 0", name
    for name in ("fmt", "fmt2"):
        e = _exec_of(col, bindir / name)
        assert {"agent-written", "written-via-copy"} <= set(e["id_flags"]), e
        assert e["written_ns"] > baseline_end, e  # the agent's write, not the copy's
    first, second = (_exec_of(col, bindir / n)["written_ns"] for n in ("fmt", "fmt2"))
    assert first == second, "each copy keeps the time of the agent's own write"
    theirs = _exec_of(col, bindir / "theirs")
    assert not {"agent-written", "written-via-copy"} & set(theirs["id_flags"]), theirs
    got = _certified(col, baseline_end, bindir / "fmt")
    assert got and got[0].evidence["written_via"] == "copy", got
    assert not _certified(col, baseline_end, bindir / "theirs")


def test_the_agents_own_file_written_in_place_is_not_a_copy(watched: Any, tmp_path: Path) -> None:
    """The agent's own write (open, write, close) of a program: agent-written, no copy flag -- the
    flag says where the mark came from, so a reader of the evidence knows which case it is."""
    _sensor, agent, col = watched
    assert agent.cmd(f"copy {TOOL} {tmp_path / 'own'}") == str(Path(TOOL).stat().st_size)
    (tmp_path / "own").chmod(0o755)
    assert agent.cmd(f"run {tmp_path / 'own'}") == "rc 0"
    e = _exec_of(col, tmp_path / "own")
    assert "agent-written" in e["id_flags"] and "written-via-copy" not in e["id_flags"], e
