"""The msgpack journal: round trip, streaming, and honest failure on bad input."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import msgpack
import numpy as np
import pytest
from conftest import cli_runner

from h7.batch import AgentInfo, Batch
from h7.cli import main
from h7.decode import STATS_DTYPE, SYS_DTYPE
from h7.journal import (
    VERSION,
    JournalError,
    JournalHeader,
    JournalReader,
    JournalWriter,
    read_journal,
    write_journal,
)

AGENT = AgentInfo(1, "python3:4242:77", 4242, "/usr/bin/python3.11", ["python3", "agent.py"], 77)
JOURNALS = Path(__file__).parent / "journals"


def _batch(k: int, rng: np.random.Generator) -> Batch:
    sys = np.zeros(50 + k, SYS_DTYPE)
    sys["ts_ns"] = 10**12 + k * 10**9 + np.arange(sys.size) * 1000
    sys["tgid"], sys["tid"], sys["agent"] = 4242, 4243, 1
    sys["nr"] = rng.integers(0, 300, sys.size)
    st = np.zeros((), STATS_DTYPE)
    st["oncpu_hist"][12] = k
    st["send_bytes"] = 2**40 + k  # > 32 bits must survive
    events = [
        {
            "type": "open",
            "ts_ns": 10**12 + k * 10**9 + 5,
            "agent": 1,
            "pid": 4242,
            "tid": 4242,
            "ppid": 1,
            "uid": 1000,
            "comm": "python3",
            "path": "/tmp/caf\udce9.txt",
            "flags": 0,
            "mode": 0,
            "dfd": -100,
            "op": "openat",
        },
    ]
    return Batch(10**12 + k * 10**9, 10**12 + (k + 1) * 10**9, sys, events, {1: st}, {"sys": k, "events": 0})


def _write(path: Path, n: int = 5) -> list[Batch]:
    rng = np.random.default_rng(1)
    batches = [_batch(k, rng) for k in range(n)]
    write_journal(path, batches, [AGENT], batch_ns=10**9, host="h", start_ns=10**12, meta={"x": 1})
    return batches


def _same(a: Batch, b: Batch) -> None:
    assert (a.t0_ns, a.t1_ns) == (b.t0_ns, b.t1_ns)
    assert np.array_equal(a.syscalls, b.syscalls)
    assert a.events == b.events
    assert a.drops == b.drops
    assert set(a.stats) == set(b.stats)
    for k in a.stats:
        assert a.stats[k].tobytes() == b.stats[k].tobytes()


def test_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "j.h7j"
    batches = _write(p)
    header, back, trunc = read_journal(p)
    assert trunc is None
    assert header.host == "h" and header.batch_ns == 10**9 and header.start_ns == 10**12
    assert header.agents == [AGENT] and header.meta == {"x": 1}
    assert len(back) == len(batches)
    for a, b in zip(batches, back, strict=True):
        _same(a, b)
    assert int(back[3].stats[1]["send_bytes"]) == 2**40 + 3
    assert back[0].events[0]["path"] == "/tmp/caf\udce9.txt"  # surrogateescape round trip


def test_streaming_reader_yields_before_the_end(tmp_path: Path) -> None:
    buf = io.BytesIO()
    w = JournalWriter(buf, JournalHeader("h", [AGENT], 0, 10**9))
    rng = np.random.default_rng(2)
    w.write(_batch(0, rng))
    w.write(_batch(1, rng))
    buf.seek(0)
    r = JournalReader(buf)
    it = iter(r)
    assert next(it).t0_ns == 10**12
    assert next(it).t0_ns == 10**12 + 10**9
    assert list(it) == [] and r.truncated is None


@pytest.mark.parametrize("cut", [1, 7, 100, 1000])
def test_truncated_final_record_is_reported_and_the_rest_replays(tmp_path: Path, cut: int) -> None:
    p = tmp_path / "j.h7j"
    batches = _write(p)
    data = p.read_bytes()
    last = len(msgpack.packb(batches[-1].to_record(), use_bin_type=True, unicode_errors="surrogateescape"))
    assert cut < last
    p.write_bytes(data[:-cut])  # a writer killed mid-record
    _header, back, trunc = read_journal(p)
    assert len(back) == len(batches) - 1
    for a, b in zip(batches, back, strict=False):
        _same(a, b)
    assert trunc is not None
    assert trunc.nbytes == last - cut
    assert trunc.offset == len(data) - last
    assert "incomplete record" in trunc.message()


def test_truncated_header(tmp_path: Path) -> None:
    p = tmp_path / "j.h7j"
    _write(p)
    p.write_bytes(p.read_bytes()[:20])
    with pytest.raises(JournalError, match="header is incomplete"):
        JournalReader(p)


def test_not_a_journal(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_bytes(msgpack.packb({"hello": 1}))
    with pytest.raises(JournalError, match="not an H7 journal"):
        JournalReader(p)
    p.write_bytes(b"")
    with pytest.raises(JournalError, match="empty"):
        JournalReader(p)
    with pytest.raises(JournalError, match="cannot open"):
        JournalReader(tmp_path / "missing")


def test_unknown_version(tmp_path: Path) -> None:
    p = tmp_path / "j"
    rec = JournalHeader("h", [], 0, 1).to_record()
    rec["version"] = 99
    p.write_bytes(msgpack.packb(rec))
    with pytest.raises(JournalError, match="version 99"):
        JournalReader(p)


def test_corrupt_record_in_the_middle_names_the_offset(tmp_path: Path) -> None:
    p = tmp_path / "j.h7j"
    _write(p, 2)
    hdr_len = len(msgpack.packb(JournalHeader("h", [AGENT], 10**12, 10**9, meta={"x": 1}).to_record()))
    data = bytearray(p.read_bytes())
    data[hdr_len] = 0xC1  # the one byte msgpack never uses
    p.write_bytes(bytes(data))
    r = JournalReader(p)
    with pytest.raises(JournalError, match=f"corrupt record at byte {hdr_len}"):
        list(r)


def test_record_that_is_not_a_batch(tmp_path: Path) -> None:
    p = tmp_path / "j.h7j"
    with p.open("wb") as f:
        f.write(msgpack.packb(JournalHeader("h", [], 0, 1).to_record()))
        f.write(msgpack.packb([1, 2, 3]))
    with pytest.raises(JournalError, match="not a batch"):
        list(JournalReader(p))
    with p.open("wb") as f:
        f.write(msgpack.packb(JournalHeader("h", [], 0, 1).to_record()))
        f.write(msgpack.packb({"t0": 0, "t1": 1, "sys": b"\0" * 5}))
    with pytest.raises(JournalError, match="malformed batch"):
        list(JournalReader(p))


@pytest.mark.parametrize("procs", [[1, 2], {1: [5]}, {1: {"100": 5}}, {1: {100: 1.5}}, {1: {100: "x"}}])
def test_malformed_per_process_sample_is_refused(tmp_path: Path, procs: object) -> None:
    """A batch's optional ``procs`` (L1's per-process CPU) of the wrong shape is an error naming it."""
    p = tmp_path / "j.h7j"
    with p.open("wb") as f:
        f.write(msgpack.packb(JournalHeader("h", [], 0, 1).to_record()))
        f.write(msgpack.packb({"t0": 0, "t1": 1, "procs": procs}, strict_types=False))
    with pytest.raises(JournalError, match="procs is not a map"):
        list(JournalReader(p))


def test_per_process_sample_round_trips(tmp_path: Path) -> None:
    p = tmp_path / "j.h7j"
    write_journal(p, [Batch(0, 1, procs={1: {100: 7_000_000, 101: 0}})], [], host="h", batch_ns=1, start_ns=0)
    _, batches, trunc = read_journal(p)
    assert trunc is None and batches[0].procs == {1: {100: 7_000_000, 101: 0}}


def test_replay_of_a_killed_recording_warns_and_still_alerts(tmp_path: Path) -> None:
    src = JOURNALS / "attack_ptrace.h7j"
    header, batches, _ = read_journal(src)
    p = tmp_path / "killed.h7j"
    write_journal(
        p, batches, header.agents, batch_ns=header.batch_ns, host=header.host, start_ns=header.start_ns
    )
    p.write_bytes(p.read_bytes()[:-50])
    res = cli_runner().invoke(main, ["replay", str(p)])
    assert res.exit_code == 0, res.output
    assert "PTRACE_ATTACH_DETECTED" in res.stdout
    assert "incomplete record" in res.stderr


def test_version_1_journals_get_the_kernels_windows() -> None:
    """A journal from before windows moved into the kernel replays with the same windows.

    tests/journals/v1/benign.h7j is the version-1 file of the synthetic benign
    journal; tests/journals/benign.h7j is the same activity written as the current
    version (2 or later: windows computed when it was generated).  Reading the old one
    must give identical records, windows included, and zero-extended stats.
    """
    h1, old, _ = read_journal(JOURNALS / "v1" / "benign.h7j")
    h2, new, _ = read_journal(JOURNALS / "benign.h7j")
    assert h1.version == 1 and h2.version == VERSION >= 2
    assert len(old) == len(new)
    for a, b in zip(old, new, strict=True):
        assert np.array_equal(a.syscalls, b.syscalls)
        for agent, st in a.stats.items():
            assert int(st["seq_filtered"]) == 0
            assert st.tobytes() == b.stats[agent].tobytes()
    assert sum(int(b.syscalls.size) for b in old) > 1000
    assert any(int(b.syscalls["window"][-1]) >> 50 for b in old)  # full six-syscall windows


def test_unknown_journal_version_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "future.h7j"
    hdr = JournalHeader(host="h", agents=[AGENT], start_ns=0, batch_ns=10**9, version=99)
    with JournalWriter(p, hdr):
        pass
    with pytest.raises(JournalError, match="unsupported journal version 99"):
        read_journal(p)


def test_agent_cwd_is_journalled_and_older_journals_have_none(tmp_path: Path) -> None:
    """Version 3 keeps the agent's attach-time working directory (L3 resolves the relative paths of
    the agent and its children against it, live and in replay alike); a version-2 journal, which has
    no such key, still reads, with the cwd unknown."""
    agent = AgentInfo(1, "python3:4242:77", 4242, "/usr/bin/python3.11", ["python3"], 77, cwd="/srv/work")
    p = tmp_path / "j.h7j"
    write_journal(p, [], [agent], batch_ns=1_000_000_000)
    h, _, _ = read_journal(p)
    assert h.version == VERSION == 3 and h.agents[0].cwd == "/srv/work"
    old = JournalHeader("h", [AGENT], 0, 1_000_000_000, version=2).to_record()
    assert "cwd" not in old["agents"][0]
    assert JournalHeader.from_record(old).agents[0].cwd == ""
    with JournalReader(
        io.BytesIO(gzip.decompress((JOURNALS / "l3" / "tool_loop_cwd_dev.h7j.gz").read_bytes()))
    ) as r:
        assert r.header.version == 2 and all(a.cwd == "" for a in r.header.agents)
