"""Real BPF: a program the agent wrote, re-written through userspace by a process outside it, or
left open when the writer exited.

Two ways an agent-written program reached an exec with no written mark until session 29:

* **Relayed**: a process outside every agent reads the agent's drop and writes the bytes to a new
  file itself (``dd``, a Python read/write loop), or into a pipe whose reader writes them
  (``tar c | tar x``): no in-kernel copy call names both files, so ``copy_mark`` never runs.
  The reader is a receiver (a young process that opened a file an agent wrote, within the
  receiver window: ``recv_written``); what it then writes gets the agent's mark with
  ``H7_WRITTEN_RELAY`` (``relay_mark`` in bpf/h7.bpf.c), at its close(2) or dup2/dup3 onto the
  fd, or at its exit for files it never closed; a pipe it writes marks the pipe's reader
  (``relay_pipe``).
* **Never closed**: a process writes a file and exits (``os._exit``, a C program without
  ``close``): the kernel closes it in ``exit_files()``, after ``sched_process_exit``, where no hook
  saw a close.  ``exit_mark`` now marks the files still open for writing at the exit tracepoint.

The copiers are the test's own subprocesses with their own steps (never watched), not a
red-team script.  The same copiers on a file the test wrote leave it unmarked, and with the
receiver window off no relay is marked at all.
"""

from __future__ import annotations

import contextlib
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_sensor_exec_layers import TOOL, _certified, _exec_of
from test_sensor_gaps import watched

from h7.decode import WRITTEN_BLOOM_BITS

#: fixtures this module takes from test_sensor_gaps (a watched gap agent)
FIXTURES = (watched,)

#: the production default of [detect.l2] receiver_window_s (the sensor fixture turns it off)
WINDOW_NS = int(2e9)

#: copiers run as fresh ``sh -c SCRIPT sh SRC DST`` processes outside the agent
COPIERS: dict[str, str] = {
    # read + write + close(2): relay_close at the close
    "python-loop": f'{sys.executable} -c \'import sys; d = open(sys.argv[1], "rb").read(); '
    'f = open(sys.argv[2], "wb"); f.write(d); f.close()\' "$1" "$2"',
    # read + write + os._exit: the destination is never closed by the copier, exit_mark marks it
    "python-exit": f'{sys.executable} -c \'import os, sys; d = open(sys.argv[1], "rb").read(); '
    'fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644); os.write(fd, d); os._exit(0)\' "$1" "$2"',
    # dd's read/write loop into its stdout, which its shell opened before dd read anything
    "dd-stdout": 'dd if="$1" bs=4096 status=none > "$2"',
    # through a pipe: cat reads the drop and writes the pipe, dd reads the pipe and writes the copy
    "cat-pipe-dd": 'cat "$1" | dd of="$2" bs=4096 status=none',
    # an archive streamed through a pipe and unpacked in a scratch directory, then moved in place
    "tar-pipe": 'd=$(mktemp -d -p "$(dirname "$2")") && tar -C "$(dirname "$1")" -cf - "$(basename "$1")" '
    '| tar -C "$d" -xf - && mv "$d/$(basename "$1")" "$2" && rmdir "$d"',
}


def _copy(how: str, src: Path, dst: Path) -> None:
    subprocess.run(["sh", "-c", COPIERS[how], "sh", str(src), str(dst)], check=True, timeout=30)
    assert dst.stat().st_size == src.stat().st_size


@pytest.mark.parametrize("how", sorted(COPIERS))
def test_a_userspace_copy_of_the_agents_drop_made_outside_the_agent_is_agent_written(
    watched: Any, tmp_path: Path, how: str
) -> None:
    """The agent writes a program, a fresh process outside it copies the bytes through its own
    memory to bin/fmt, another the test's own program to bin/theirs; the agent runs both.  The
    relayed copy is agent-written via a relay with the time of the agent's write, and L2 certifies
    AGENT_WRITTEN_EXEC with ``written_via: relay``; the test's own program is not marked."""
    sensor, agent, col = watched
    sensor.set_receiver_window(WINDOW_NS)
    outbox, bindir = tmp_path / "outbox", tmp_path / "bin"
    outbox.mkdir()
    bindir.mkdir()
    baseline_end = time.monotonic_ns()  # bpf_ktime_get_ns is CLOCK_MONOTONIC
    assert agent.cmd(f"copy {TOOL} {outbox / 'fmt.bin'}") == str(Path(TOOL).stat().st_size)
    with open(TOOL, "rb") as src, open(tmp_path / "mine", "wb") as own:
        own.write(src.read())  # written by this (unwatched) process
    _copy(how, outbox / "fmt.bin", bindir / "fmt")
    _copy(how, tmp_path / "mine", bindir / "theirs")
    for name in ("fmt", "theirs"):
        (bindir / name).chmod(0o755)
        assert agent.cmd(f"run {bindir / name}") == "rc 0", name
    e = _exec_of(col, bindir / "fmt")
    assert {"agent-written", "written-via-relay"} <= set(e["id_flags"]), e
    assert "written-via-copy" not in e["id_flags"], e  # no in-kernel copy: the relay says which case
    assert e["written_ns"] > baseline_end, e  # the agent's write, not the copier's
    theirs = _exec_of(col, bindir / "theirs")
    assert not {"agent-written", "written-via-relay"} & set(theirs["id_flags"]), theirs
    got = _certified(col, baseline_end, bindir / "fmt")
    assert got and got[0].evidence["written_via"] == "relay", got
    assert not _certified(col, baseline_end, bindir / "theirs")


def test_no_relay_mark_with_the_receiver_window_off(watched: Any, tmp_path: Path) -> None:
    """``receiver_window_s = 0`` turns receivers off, and relays with them: the reader of the
    agent's drop holds no mark, so what it writes is not agent-written."""
    sensor, agent, col = watched
    sensor.set_receiver_window(0)
    drop, dst = tmp_path / "drop", tmp_path / "fmt"
    assert agent.cmd(f"copy {TOOL} {drop}") == str(Path(TOOL).stat().st_size)
    _copy("python-loop", drop, dst)
    dst.chmod(0o755)
    assert agent.cmd(f"run {dst}") == "rc 0"
    assert "agent-written" not in _exec_of(col, dst)["id_flags"]


def test_a_program_the_agent_writes_and_exits_without_closing_is_agent_written(
    watched: Any, tmp_path: Path
) -> None:
    """A tool of the agent writes a program and leaves by ``os._exit`` with the file still open
    (the kernel closes it after the exit tracepoint): agent-written all the same, no relay flag."""
    _sensor, agent, col = watched
    baseline_end = time.monotonic_ns()
    out, script = tmp_path / "tool", tmp_path / "w.py"
    script.write_text(
        "import os, sys\n"
        "fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o755)\n"
        "os.write(fd, open(sys.argv[1], 'rb').read())\n"
        "os._exit(0)\n"
    )
    assert agent.cmd(f"run {sys.executable} {script} {TOOL} {out}") == "rc 0"
    out.chmod(0o755)
    assert agent.cmd(f"run {out}") == "rc 0"
    e = _exec_of(col, out)
    assert "agent-written" in e["id_flags"] and "written-via-relay" not in e["id_flags"], e
    assert e["written_ns"] > baseline_end, e
    assert _certified(col, baseline_end, out)


def test_a_young_reader_that_writes_nothing_marks_nothing(watched: Any, tmp_path: Path) -> None:
    """A relay holder's exit walks its file table: files it had open only for reading (the drop
    itself, a log it reads) are not written and keep no new mark."""
    sensor, agent, col = watched
    sensor.set_receiver_window(WINDOW_NS)
    drop = tmp_path / "drop"
    with open(TOOL, "rb") as src, open(tmp_path / "mine", "wb") as own:
        own.write(src.read())
    assert agent.cmd(f"copy {TOOL} {drop}") == str(Path(TOOL).stat().st_size)
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import os; a = open({str(drop)!r}, 'rb'); b = open({str(tmp_path / 'mine')!r}, 'rb'); "
            "a.read(); b.read(); os._exit(0)",
        ],
        check=True,
        timeout=30,
    )
    (tmp_path / "mine").chmod(0o755)
    assert agent.cmd(f"run {tmp_path / 'mine'}") == "rc 0"
    assert "agent-written" not in _exec_of(col, tmp_path / "mine")["id_flags"]


#: the test's own program for the long-running copier (its size is not TOOL's)
OTHER = "/usr/bin/true"

#: a long-running copier: started before the agent writes, it copies on request, one line
#: ``SRC DST PAD DELAY [exit]`` on stdin per copy (PAD bytes appended, DELAY seconds between the
#: read and the write; ``exit``: it answers and exits with the copy still open, no close(2)),
#: answering ``ok`` -- a sync daemon's or a file service's worker, not the young reader of the
#: relay rule.  ``cat DST SRC...`` assembles: the sources' bytes, in order, into DST (one write each);
#: a source written ``@PATH`` is read before DST is opened and not copied (an upload's manifest).
OLD_COPIER = (
    "import os, sys, time\n"
    "for line in sys.stdin:\n"
    "    if line.startswith('cat '):\n"
    "        dst, *srcs = line.split()[1:]\n"
    "        for s in srcs:\n"
    "            if s.startswith('@'):\n"
    "                with open(s[1:], 'rb') as f:\n"
    "                    f.read()\n"
    "        with open(dst, 'wb') as g:\n"
    "            for s in (s for s in srcs if not s.startswith('@')):\n"
    "                with open(s, 'rb') as f:\n"
    "                    g.write(f.read())\n"
    "        print('ok', flush=True)\n"
    "        continue\n"
    "    src, dst, pad, delay, *how = line.split()\n"
    "    with open(src, 'rb') as f:\n"
    "        data = f.read()\n"
    "    time.sleep(float(delay))\n"
    "    g = open(dst, 'wb')\n"
    "    g.write(data + b'\\0' * int(pad))\n"
    "    g.flush()\n"
    "    print('ok', flush=True)\n"
    "    if how:\n"
    "        os._exit(0)\n"
    "    g.close()\n"
)


def _run_flags(agent: Any, col: Any, path: Path) -> set[str]:
    """The identity flags of the agent's exec of ``path`` (none if it did not run)."""
    if agent.cmd(f"run {path}") != "rc 0":
        return set()
    return set(_exec_of(col, path)["id_flags"])


class OldCopier:
    """A copier process outside every agent, older than the receivers' youth (1 s) when it reads."""

    def __init__(self) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-c", OLD_COPIER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.3)  # H7_RECV_YOUNG_NS is 1 s: older than that, it holds no relay mark

    def copy(self, src: Path, dst: Path, pad: int = 0, delay: float = 0.0, exit: bool = False) -> None:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(f"{src} {dst} {pad} {delay}{' exit' if exit else ''}\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "ok"
        if exit:
            self.p.wait(timeout=10)  # its exit closed the copy
        dst.chmod(0o755)

    def assemble(self, dst: Path, srcs: list[Path], manifest: Path | None = None) -> None:
        assert self.p.stdin is not None and self.p.stdout is not None
        first = [f"@{manifest}"] if manifest else []
        self.p.stdin.write(" ".join(["cat", str(dst), *first, *map(str, srcs)]) + "\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "ok"
        dst.chmod(0o755)

    def close(self) -> None:
        if self.p.stdin is not None:
            self.p.stdin.close()
        self.p.wait(timeout=10)


def test_an_exact_copy_by_a_long_running_copier_is_agent_written(watched: Any, tmp_path: Path) -> None:
    """A copier started before the agent's write (so no young reader) copies the agent's drop and
    the test's own program (another size: same-size writes are the rule's blind spot,
    docs/detection.md): the drop's copy is agent-written ``written-via-copier`` with the time of
    the agent's write, certified ``written_via: copier``; the other copy is not marked."""
    sensor, agent, col = watched
    sensor.set_receiver_window(WINDOW_NS)
    copier, quitter = OldCopier(), OldCopier()
    try:
        baseline_end = time.monotonic_ns()
        drop, mine = tmp_path / "drop", tmp_path / "mine"
        assert agent.cmd(f"copy {TOOL} {drop}") == str(Path(TOOL).stat().st_size)
        with open(OTHER, "rb") as src, open(mine, "wb") as own:
            own.write(src.read())
        assert mine.stat().st_size != drop.stat().st_size
        copier.copy(drop, tmp_path / "fmt")
        copier.copy(mine, tmp_path / "theirs")
        quitter.copy(drop, tmp_path / "left-open", exit=True)  # closed by its exit: exit_mark
    finally:
        copier.close()
        quitter.close()
    assert {"agent-written", "written-via-copier"} <= _run_flags(agent, col, tmp_path / "left-open")
    for name in ("fmt", "theirs"):
        assert agent.cmd(f"run {tmp_path / name}") == "rc 0", name
    e = _exec_of(col, tmp_path / "fmt")
    assert {"agent-written", "written-via-copier"} <= set(e["id_flags"]), e
    assert "written-via-relay" not in e["id_flags"], e
    assert e["written_ns"] > baseline_end, e
    theirs = _exec_of(col, tmp_path / "theirs")
    assert "agent-written" not in theirs["id_flags"], theirs
    got = _certified(col, baseline_end, tmp_path / "fmt")
    assert got and got[0].evidence["written_via"] == "copier", got
    assert not _certified(col, baseline_end, tmp_path / "theirs")


@contextlib.contextmanager
def _bloom_full(sensor: Any) -> Iterator[None]:
    """Every bit of written_bloom set for the block (the words it held are put back after)."""
    m = sensor.obj.map("written_bloom")
    keys = [struct.pack("<I", i) for i in range(1 << (WRITTEN_BLOOM_BITS - 6))]
    saved = [m.lookup(k) for k in keys]
    for k in keys:
        m.update(k, struct.pack("<Q", (1 << 64) - 1))
    try:
        yield
    finally:
        for k, v in zip(keys, saved, strict=True):
            m.update(k, v if v is not None else bytes(8))


def test_chunks_assembled_by_a_long_running_copier_are_agent_written(watched: Any, tmp_path: Path) -> None:
    """The agent writes its program as three chunks; a copier started before (a chunked-upload
    service's assembler) concatenates them: the whole has the size of all the copier opened since
    it started (``total``), so it is agent-written ``written-via-copier``; so is an assembly after
    reading the upload's manifest (agent-written too): the size of what it read since it opened
    the output (``total - base``).  The same chunks assembled with one file the agent did not
    write (another copier) are not marked."""
    sensor, agent, col = watched
    sensor.set_receiver_window(WINDOW_NS)
    parts = tmp_path / "parts"
    parts.mkdir()
    assert agent.cmd(f"split {TOOL} 3 {parts}") == "3"
    chunks = [parts / f"part{i}" for i in range(3)]
    mine = tmp_path / "mine"
    mine.write_bytes(b"#!/bin/true\n")
    assembler, other, service = OldCopier(), OldCopier(), OldCopier()
    try:
        assembler.assemble(tmp_path / "whole", chunks)
        other.assemble(tmp_path / "mixed", [*chunks, mine])
        service.assemble(tmp_path / "upload", chunks, manifest=parts / "manifest")
    finally:
        assembler.close()
        other.close()
        service.close()
    assert (tmp_path / "whole").read_bytes() == Path(TOOL).read_bytes()
    assert {"agent-written", "written-via-copier"} <= _run_flags(agent, col, tmp_path / "upload")
    # every bloom bit set, as a long run leaves the bit of a freed agent-written file's struct
    # inode when the slab gives its address to the assembler's new output: still an output
    with _bloom_full(sensor):
        late = OldCopier()
        try:
            late.assemble(tmp_path / "upload2", chunks, manifest=parts / "manifest")
        finally:
            late.close()
    assert {"agent-written", "written-via-copier"} <= _run_flags(agent, col, tmp_path / "upload2")
    for name in ("whole", "mixed"):
        assert agent.cmd(f"run {tmp_path / name}") == "rc 0", name
    e = _exec_of(col, tmp_path / "whole")
    assert {"agent-written", "written-via-copier"} <= set(e["id_flags"]), e
    assert "agent-written" not in _exec_of(col, tmp_path / "mixed")["id_flags"]


def test_a_long_running_reader_that_writes_another_size_marks_nothing(watched: Any, tmp_path: Path) -> None:
    """An editor or indexer reads the agent's files and writes its own: only a file of the size
    of one it read is marked, so a write of any other size (here the drop plus one byte) is not
    agent-written; nor is an exact copy written after the window (0.3 s here), or with the
    receiver window off."""
    sensor, agent, col = watched
    sensor.set_receiver_window(WINDOW_NS)
    drop = tmp_path / "drop"
    assert agent.cmd(f"copy {TOOL} {drop}") == str(Path(TOOL).stat().st_size)
    copier = OldCopier()
    try:
        copier.copy(drop, tmp_path / "padded", pad=1)
        sensor.set_receiver_window(int(0.3e9))
        copier.copy(drop, tmp_path / "late", delay=0.6)
        sensor.set_receiver_window(0)
        copier.copy(drop, tmp_path / "off")
    finally:
        copier.close()
    for name in ("padded", "late", "off"):
        assert agent.cmd(f"run {tmp_path / name}") == "rc 0", name
        assert "agent-written" not in _exec_of(col, tmp_path / name)["id_flags"], name
