"""CalWriter durability: restarts, stale heads, concurrent writers, full disk, kill -9."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cal_support import make_keys, sample_agent, sample_alert

from h7.cal import CalWriter, cert_hash, verify_chain, verify_file
from h7.cal.format import ZERO_HASH, file_name
from h7.errors import StorageError

REPO = Path(__file__).resolve().parent.parent


def _emit(w: CalWriter, i: int = 0) -> tuple[Path, bytes]:
    return w.emit(sample_alert(i), sample_agent(), {"events": 0, "syscalls": i})


def test_emit_writes_verified_chained_certificates(tmp_path: Path) -> None:
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "var" / "cal"
    with CalWriter(cal, priv, host="box") as w:
        assert w.head == (0, ZERO_HASH)
        p1, d1 = _emit(w, 1)
        p2, d2 = _emit(w, 2)
    assert stat.S_IMODE(os.stat(cal).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(p1).st_mode) == 0o640
    assert p1.read_bytes() == d1 and p1.name == file_name(1)
    c1, c2 = verify_file(p1, pub), verify_file(p2, pub)
    assert c1.prev_hash == ZERO_HASH and c2.prev_hash == cert_hash(d1)
    assert c2.seq == 2 and c2.host == "box" and c2.body["drops"] == {"events": 0, "syscalls": 2}
    assert c2.body["agent"]["cmdline"] == ["python3", "agent.py", "--task", "a b"]
    assert (cal / "HEAD").read_text().split()[2:] == ["2", cert_hash(d2).hex()]
    assert not [n for n in os.listdir(cal) if n.endswith(".tmp")]


def test_agent_mismatch_is_a_programming_error(tmp_path: Path) -> None:
    priv, _ = make_keys(tmp_path)
    with CalWriter(tmp_path / "cal", priv) as w, pytest.raises(ValueError):
        w.emit(sample_alert(0, agent_id="other:1:1"), sample_agent(), {})


def test_chain_continues_across_restarts(tmp_path: Path) -> None:
    priv, pub = make_keys(tmp_path)
    for round_ in range(3):
        with CalWriter(tmp_path / "cal", priv) as w:
            for i in range(2):
                _emit(w, round_ * 10 + i)
    r = verify_chain(tmp_path / "cal", pub)
    assert r.ok and r.count == 6 and r.head_seq == 6


def test_stale_head_left_by_a_crash_is_rolled_forward(tmp_path: Path) -> None:
    """The state a kill between the certificate link and the HEAD rename leaves behind."""
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "cal"
    with CalWriter(cal, priv) as w:
        _emit(w)
        old_head = (cal / "HEAD").read_bytes()
        _emit(w)
        _emit(w)
    (cal / "HEAD").write_bytes(old_head)
    (cal / ".000000000004.cal.999.tmp").write_bytes(b"half a certif")  # an interrupted write
    with CalWriter(cal, priv) as w:
        assert w.head[0] == 3
        assert not (cal / ".000000000004.cal.999.tmp").exists()
        _emit(w)
    r = verify_chain(cal, pub)
    assert r.ok and r.head_seq == 4


def test_missing_head_file_is_rebuilt_from_the_directory(tmp_path: Path) -> None:
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "cal"
    with CalWriter(cal, priv) as w:
        _emit(w)
        _emit(w)
    (cal / "HEAD").unlink()
    with CalWriter(cal, priv) as w:
        assert w.head[0] == 2
        _emit(w)
    assert verify_chain(cal, pub).ok


def test_deleted_newest_certificates_are_proven_by_the_next_one(tmp_path: Path) -> None:
    """HEAD survives the deletion, so the chain continues from it and the gap shows."""
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "cal"
    with CalWriter(cal, priv) as w:
        for i in range(3):
            _emit(w, i)
    (cal / file_name(3)).unlink()
    (cal / file_name(2)).unlink()
    r = verify_chain(cal, pub)
    assert not r.ok and "HEAD records seq 3" in r.lines()[0]
    with CalWriter(cal, priv) as w:
        assert w.head[0] == 3
        _emit(w)
    r = verify_chain(cal, pub)
    assert not r.ok
    assert r.first_break is not None and r.first_break.seq == 4
    assert "2..3 missing" in r.first_break.reason


def test_refuses_to_extend_a_foreign_or_tampered_chain(tmp_path: Path) -> None:
    priv, _ = make_keys(tmp_path)
    other, _ = keygen_other = make_keys(tmp_path / "other")
    del keygen_other
    cal = tmp_path / "cal"
    with CalWriter(cal, other) as w:
        _emit(w)
    with pytest.raises(StorageError, match="does not verify with this host's key"):
        CalWriter(cal, priv)
    cal2 = tmp_path / "cal2"
    with CalWriter(cal2, priv) as w:
        _emit(w)
    (cal2 / "HEAD").write_text("h7-cal-head 1 1 " + "ab" * 32 + "\n")
    with pytest.raises(StorageError, match="does not match the hash"):
        CalWriter(cal2, priv)
    (cal2 / "HEAD").write_text("garbage\n")
    with pytest.raises(StorageError, match="malformed"):
        CalWriter(cal2, priv)


def test_group_readable_key_is_refused_by_the_writer(tmp_path: Path) -> None:
    priv, _ = make_keys(tmp_path)
    os.chmod(priv, 0o640)
    with pytest.raises(StorageError, match="refusing to sign"):
        CalWriter(tmp_path / "cal", priv)


def test_threads_share_one_writer(tmp_path: Path) -> None:
    priv, pub = make_keys(tmp_path)
    with CalWriter(tmp_path / "cal", priv) as w:
        errors: list[BaseException] = []

        def work(t: int) -> None:
            try:
                for i in range(15):
                    _emit(w, t * 100 + i)
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors
    r = verify_chain(tmp_path / "cal", pub)
    assert r.ok and r.count == 60


_WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{repo!r}, {tests!r}]
    from pathlib import Path
    from h7.cal import CalWriter
    from test_cal_support import sample_alert, sample_agent
    w = CalWriter(Path(sys.argv[1]), Path(sys.argv[2]))
    print("ready", flush=True)
    for i in range(int(sys.argv[3])):
        w.emit(sample_alert(i), sample_agent(), {{"events": i}})
    """
).format(repo=str(REPO), tests=str(REPO / "tests"))


def _spawn_writer(cal: Path, priv: Path, n: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER_SCRIPT, str(cal), str(priv), str(n)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_two_processes_append_to_one_chain(tmp_path: Path) -> None:
    """The sensor and an operator's 'h7 contain' write the same directory."""
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "cal"
    procs = [_spawn_writer(cal, priv, 25) for _ in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()
    r = verify_chain(cal, pub)
    assert r.ok, r.lines()
    assert r.count == 75


def test_kill_9_at_random_points_leaves_a_consistent_chain(tmp_path: Path) -> None:
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "cal"
    rng = random.Random(1234)
    deadline = time.monotonic() + 90
    kills = 0
    for _ in range(12):
        if time.monotonic() > deadline:
            break
        p = _spawn_writer(cal, priv, 100_000)
        assert p.stdout is not None
        p.stdout.readline()  # the writer is up (it may already be appending)
        time.sleep(rng.uniform(0.0, 0.25))
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        kills += 1
        r = verify_chain(cal, pub)
        # killed before its first certificate: an empty directory, which verify reports as such
        empty = r.count == 0 and len(r.breaks) == 1 and "no certificates" in r.lines()[0]
        assert r.ok or empty, r.lines()
        # ...and a new writer continues it.
        with CalWriter(cal, priv) as w:
            seq_before = w.head[0]
            assert seq_before == r.head_seq
            _emit(w)
        assert verify_chain(cal, pub).ok
    assert kills >= 3
    final = verify_chain(cal, pub)
    assert final.ok and final.count > kills


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_raises_storage_error_and_keeps_the_chain(tmp_path: Path, tiny_fs: Path) -> None:
    priv, pub = make_keys(tmp_path)
    cal = tiny_fs / "cal"
    big = {"blob": "x" * 6000}
    written = 0
    with CalWriter(cal, priv) as w:
        with pytest.raises(StorageError, match="disk full"):
            for i in range(200):
                w.emit(sample_alert(i, evidence=big), sample_agent(), {})
                written += 1
        head = w.head
        assert written > 0 and head[0] == written
        assert not [n for n in os.listdir(cal) if n.endswith(".tmp")]
        r = verify_chain(cal, pub)
        assert r.ok, r.lines()
        assert (r.head_seq, r.head_hash) == head
        # Space comes back: the same writer continues the same chain.
        subprocess.run(["mount", "-o", "remount,size=4m", str(tiny_fs)], check=True)
        w.emit(sample_alert(999, evidence=big), sample_agent(), {})
        assert w.head[0] == written + 1
    r = verify_chain(cal, pub)
    assert r.ok and r.count == written + 1


def test_deferred_head_is_persisted_by_sync_and_close(tmp_path: Path) -> None:
    """defer_head: emit leaves HEAD to sync_head (the sensor calls it after queueing the alert)."""
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "cal"
    with CalWriter(cal, priv, defer_head=True) as w:
        _emit(w)
        assert not (cal / "HEAD").exists()  # the certificate is durable, HEAD not yet
        w.sync_head()
        assert (cal / "HEAD").read_text().split()[2] == "1"
        _, d2 = _emit(w)
        assert (cal / "HEAD").read_text().split()[2] == "1"  # lags until synced ...
    assert (cal / "HEAD").read_text().split()[2:] == ["2", cert_hash(d2).hex()]  # ... or closed
    # a crash before sync_head (the process dies right after emit): HEAD lags ...
    child = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(REPO / "tests")!r})
        from test_cal_support import sample_agent, sample_alert
        from h7.cal import CalWriter
        w = CalWriter({str(cal)!r}, {str(priv)!r}, defer_head=True)
        w.emit(sample_alert(7), sample_agent(), {{}})
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", child], check=True, cwd=REPO, timeout=60)
    assert (cal / "HEAD").read_text().split()[2] == "2"
    with CalWriter(cal, priv) as w:  # ... and the next writer rolls it forward
        assert w.head[0] == 3
        _emit(w)
    assert verify_chain(cal, pub).ok


def test_deferred_head_never_replaces_a_newer_one(tmp_path: Path) -> None:
    """Another process (h7 contain) appended after us: its HEAD stays."""
    priv, pub = make_keys(tmp_path)
    cal = tmp_path / "cal"
    with CalWriter(cal, priv, defer_head=True) as sensor_side:
        _emit(sensor_side)
        with CalWriter(cal, priv) as operator_side:
            _emit(operator_side)
        sensor_side.sync_head()
    assert (cal / "HEAD").read_text().split()[2] == "2"
    assert verify_chain(cal, pub).ok
