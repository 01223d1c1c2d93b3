"""Syscall windows and the known-window filter, in the real kernel.

The kernel computes each thread's window code and, once told which windows
are known, stops shipping them.  These tests hold the kernel to the
definitions userspace uses (h7.windows / h7.detect.sequence, and the hash
in h7.sensor.seqfilter): if the two ever disagreed, the filter would either
drop nothing or drop windows the detector never agreed to lose.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import TIMESCALE

# A workload with three syscall patterns, one per command, and an exit.
# Pattern "b" includes a syscall number no kernel has (ENOSYS), so the
# out-of-range token is exercised too.
WORKLOAD = textwrap.dedent(
    """
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    for line in sys.stdin:
        cmd, n = line.split()
        for _ in range(int(n)):
            if cmd == "a":
                os.getppid(); os.getppid(); os.umask(0o22)
            elif cmd == "b":
                libc.syscall(5000); os.getppid(); libc.syscall(1021)
        sys.stdout.write("done\\n"); sys.stdout.flush()
    """
)


READ_NR = {"x86_64": "0", "aarch64": "63"}.get(platform.machine(), "0")


class Workload:
    def __init__(self) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-c", WORKLOAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.wait_blocked()  # started up: nothing races a test's first take

    def run(self, cmd: str, n: int) -> None:
        """Run one pattern and return once the workload is blocked reading the next command.

        Waiting for the blocked read (its syscall already entered, counted and
        shipped) keeps a test's take of records and counters from racing the
        workload's next syscall.
        """
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(f"{cmd} {n}\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "done"
        self.wait_blocked()

    def wait_blocked(self) -> None:
        deadline = time.monotonic() + 10 * TIMESCALE
        while time.monotonic() < deadline:
            with open(f"/proc/{self.p.pid}/syscall") as f:
                fields = f.read().split()
            if fields[:2] == [READ_NR, "0x0"]:  # blocked in read(2) on fd 0, stdin
                return
            time.sleep(0.005)
        raise AssertionError("workload never blocked reading its next command")

    def close(self) -> None:
        if self.p.stdin is not None:
            self.p.stdin.close()
        self.p.wait(timeout=10 * TIMESCALE)


@pytest.fixture
def workload() -> Iterator[Workload]:
    w = Workload()
    yield w
    w.close()


def _take(sensor: Any, agent: int) -> tuple[np.ndarray, Any]:
    """Everything the kernel shipped and counted for ``agent`` since the last take."""
    sensor.poll(0.05)
    b = sensor.take_batch(0, 1)
    sys_ = b.syscalls[b.syscalls["agent"] == agent]
    return sys_, b.stats[agent]


def test_kernel_windows_are_the_userspace_windows(sensor: Any, workload: Workload) -> None:
    from h7.detect.sequence import code_depth
    from h7.windows import WindowTracker

    info = sensor.add_agent(workload.p.pid)
    workload.run("a", 300)
    workload.run("b", 300)
    sys_, st = _take(sensor, info.agent)
    assert sensor.drops()["sys_dropped"] == 0
    assert sys_.size == int(st["syscalls"]) >= 1800
    nrs = set(sys_["nr"].tolist())
    assert {5000, 1021} <= nrs
    # Recompute every window from the shipped syscall numbers alone (per thread,
    # starting empty at the seed, as the kernel does) and compare bit for bit.
    ref = WindowTracker().fill(sys_)
    assert np.array_equal(ref["window"], sys_["window"])
    # the out-of-range token (1023) and 1021 (token 1023 too: only -1..1020 are kept)
    w5000 = sys_["window"][sys_["nr"] == 5000]
    assert np.all((w5000 & np.uint64(1023)) == np.uint64(1023))
    assert np.all(code_depth(sys_["window"][6:]) == 6)


def test_known_windows_are_not_shipped(sensor: Any, workload: Workload) -> None:
    from h7.sensor.seqfilter import expected_false_positive_rate

    info = sensor.add_agent(workload.p.pid)
    workload.run("a", 500)
    learned, _ = _take(sensor, info.agent)
    known = np.unique(learned["window"])
    f = sensor.set_sequence_filter(info.agent, known)
    assert f["known_windows"] == known.size
    # a few hundred windows (with the interpreter's start-up): ~1e-9, never near a miss
    assert 0 < f["false_positive_rate"] <= 2 * expected_false_positive_rate(known.size) < 1e-6

    # The same behaviour again: counted, not shipped (a handful of windows that
    # straddle the command reads may be new).
    workload.run("a", 500)
    shipped, st = _take(sensor, info.agent)
    issued = int(st["syscalls"])
    assert issued >= 1500
    assert int(st["seq_filtered"]) + shipped.size == issued
    assert shipped.size <= 20, shipped.size
    assert not np.isin(shipped["window"], known).any()

    # New behaviour is shipped, every one of its novel windows.
    workload.run("b", 200)
    shipped, st = _take(sensor, info.agent)
    assert int(st["seq_filtered"]) + shipped.size == int(st["syscalls"])
    assert (shipped["nr"] == 5000).sum() == 200 or (shipped["nr"] == 5000).sum() >= 195
    assert not np.isin(shipped["window"], known).any()

    # Switched off (a restarted baseline): everything is shipped again.
    sensor.clear_sequence_filter(info.agent)
    workload.run("a", 100)
    shipped, st = _take(sensor, info.agent)
    assert int(st["seq_filtered"]) == 0 and shipped.size == int(st["syscalls"]) >= 300


def test_filters_are_per_agent(sensor: Any) -> None:
    """One agent's known windows never hide another agent's identical syscalls."""
    w1, w2 = Workload(), Workload()
    try:
        a1 = sensor.add_agent(w1.p.pid)
        a2 = sensor.add_agent(w2.p.pid)
        w1.run("a", 300)
        learned, _ = _take(sensor, a1.agent)
        sensor.set_sequence_filter(a1.agent, np.unique(learned["window"]))
        w1.run("a", 300)
        w2.run("a", 300)
        time.sleep(0.05)
        sensor.poll(0.05)
        b = sensor.take_batch(0, 1)
        s2 = b.syscalls[b.syscalls["agent"] == a2.agent]
        assert int(b.stats[a2.agent]["seq_filtered"]) == 0
        assert s2.size == int(b.stats[a2.agent]["syscalls"]) >= 900
        assert int(b.stats[a1.agent]["seq_filtered"]) >= 880
    finally:
        w1.close()
        w2.close()


def test_bloom_bits_match_the_kernel_hash() -> None:
    """The userspace mirror of the hash sets exactly the bits it later tests (and only those)."""
    from h7.sensor.seqfilter import SEQ_BITS, bit_positions, expected_false_positive_rate

    codes = np.arange(1, 5001, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFF)
    b1, b2 = bit_positions(codes, agent=3, seed=12345)
    assert b1.max() < SEQ_BITS and b2.max() < SEQ_BITS
    # another agent or seed lands elsewhere
    c1, _ = bit_positions(codes, agent=4, seed=12345)
    d1, _ = bit_positions(codes, agent=3, seed=54321)
    assert (b1 != c1).mean() > 0.99 and (b1 != d1).mean() > 0.99
    assert 0 < expected_false_positive_rate(50_000) < 1e-4


def test_filter_counts_its_bits_without_reading_the_whole_map() -> None:
    """bits_set is kept as bits are added (reading 2 MiB would make it all resident)."""
    import mmap

    from h7.sensor.seqfilter import SEQ_WORDS, SeqBits

    class Anonymous(SeqBits):
        def __init__(self) -> None:  # same class, an anonymous mapping instead of the BPF map
            self._mm = mmap.mmap(-1, SEQ_WORDS * 8)
            self.words = np.frombuffer(self._mm, dtype=np.uint64)
            self._bits_set = 0

    b = Anonymous()
    codes = np.arange(1, 20_001, dtype=np.uint64) * np.uint64(7919)
    b.add(codes, 1, 5)
    b.add(codes[:5000], 1, 5)  # nothing new
    b.add(codes, 2, 5)  # another agent: other bits
    assert b.bits_set() == int(np.unpackbits(b.words.view(np.uint8)).sum()) > 70_000
    assert b.contains(codes, 1, 5).all() and b.contains(codes, 2, 5).all()
    assert b.contains(codes + np.uint64(1), 3, 9).mean() < 1e-3
    b.close()
