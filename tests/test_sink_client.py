"""The spool, the SinkClient and the sinkhole's dedup, in-process with real sockets and files."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import time
from pathlib import Path

import pytest
from test_sink_support import TEST_PUB, WebhookServer, cal_for, read_jsonl, summary, wait_for

from h7.config import parse
from h7.errors import DeliveryError, StorageError, UsageError
from h7.sink import SinkClient, SpoolFull
from h7.sink.framing import MAX_FRAME, FrameReader, ProtocolError, pack
from h7.sink.server import Sinkhole
from h7.sink.spool import Spool


def sinkhole(tmp_path: Path, outputs: list[dict[str, object]], **sh: object) -> Sinkhole:
    cfg = parse(
        {"sinkhole": {"socket": str(tmp_path / "s.sock"), "pubkey": str(TEST_PUB), **sh}, "output": outputs}
    ).sink
    srv = Sinkhole(cfg)
    srv.start()
    return srv


def jsonl(tmp_path: Path, name: str = "out.jsonl") -> dict[str, object]:
    return {"type": "jsonl", "path": str(tmp_path / name), "name": name}


# --- spool ----------------------------------------------------------------------
def test_spool_is_ordered_durable_and_sweeps_torn_writes(tmp_path: Path) -> None:
    d = tmp_path / "spool"
    sp = Spool(d, 1 << 20)
    seqs = [sp.append({"id": str(i), "n": i}) for i in range(5)]
    sp.remove(seqs[0])
    sp.close()
    (d / ".99.tmp").write_bytes(b"half an entry")  # an append that died before its rename
    (d / f"{7:016d}.alert").write_bytes(b"H7SP\x00\x00\x00\x00garbage")  # corrupted on disk
    sp = Spool(d, 1 << 20)
    assert not (d / ".99.tmp").exists()
    got = []
    while (e := sp.peek()) is not None:
        got.append(e.record["n"])
        sp.remove(e.seq)
    assert got == [1, 2, 3, 4]
    assert sp.quarantined == 1 and (d / "corrupt" / f"{7:016d}.alert").exists()
    # New entries continue after the highest sequence ever seen, even a corrupt one.
    assert sp.append({"id": "x"}) == 8
    sp.close()


def test_spool_is_exclusive_while_its_owner_lives(tmp_path: Path) -> None:
    a = Spool(tmp_path / "spool", 1 << 20)
    with pytest.raises(StorageError, match=f"in use by another process \\(pid {os.getpid()}\\)"):
        Spool(tmp_path / "spool", 1 << 20)
    a.close()
    Spool(tmp_path / "spool", 1 << 20).close()


def test_spool_refuses_unsafe_directory(tmp_path: Path) -> None:
    d = tmp_path / "spool"
    d.mkdir(mode=0o777)
    os.chmod(d, 0o777)
    with pytest.raises(StorageError, match="world-writable"):
        Spool(d, 1 << 20)
    os.chmod(d, 0o700)
    os.chown(d, 65534, -1)
    with pytest.raises(StorageError, match="owned by uid 65534"):
        Spool(d, 1 << 20)


# --- client -----------------------------------------------------------------------
def test_submit_never_waits_for_an_absent_or_stuck_sinkhole(tmp_path: Path) -> None:
    # A "sinkhole" that accepts connections and never reads or answers.
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.bind(str(tmp_path / "stuck.sock"))
    stuck.listen(1)
    try:
        for sock in (tmp_path / "absent.sock", tmp_path / "stuck.sock"):
            c = SinkClient(sock, tmp_path / f"spool-{sock.stem}", ack_timeout=60)
            worst = 0.0
            for i in range(50):
                t0 = time.perf_counter()
                c.submit(summary(i), f"/cal/{i}", os.urandom(512))
                worst = max(worst, time.perf_counter() - t0)
            assert c.stats()["spool_depth"] == 50
            assert worst < 0.5, worst  # an fsync, not a network round trip
            t0 = time.monotonic()
            c.close(timeout=0.2)
            assert time.monotonic() - t0 < 3  # close is not stuck behind a recv
    finally:
        stuck.close()


def test_full_spool_refuses_loudly_and_recovers(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    c = SinkClient(tmp_path / "absent.sock", tmp_path / "spool", max_spool_bytes=4096, retry_max=0.05)
    ids = []
    with pytest.raises(SpoolFull) as ei:
        for i in range(100):
            ids.append(c.submit(summary(i), f"/cal/{i}", cal_for(summary(i), i + 1)))
    assert isinstance(ei.value, DeliveryError)
    st = c.stats()
    assert st["spool_full"] is True and st["refused"] == 1 and st["spool_depth"] == len(ids) > 0
    err = capfd.readouterr().err
    assert "h7: ALARM: alert spool" in err and "NOT queued" in err and "/cal/" in err
    # The sinkhole comes up: the backlog drains, the spool accepts again.
    srv = Sinkhole(
        parse({"sinkhole": {"pubkey": str(TEST_PUB)}, "output": [jsonl(tmp_path)]}).sink,
        tmp_path / "absent.sock",
    )
    srv.start()
    try:
        assert c.flush(10)
        last = c.submit(summary(999), "/cal/999", cal_for(summary(999)))
        assert c.flush(10)
        assert c.stats()["spool_full"] is False
        assert [r["id"] for r in read_jsonl(tmp_path / "out.jsonl")] == [*ids, last]
    finally:
        c.close()
        srv.shutdown()


def test_summary_with_numpy_like_values_is_normalised(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    srv = sinkhole(tmp_path, [jsonl(tmp_path)])
    c = SinkClient(tmp_path / "s.sock", tmp_path / "spool")
    try:
        s = {**summary(1), "divergence": np.float32(0.75), "counts": np.arange(3), "n": np.int64(5)}
        c.submit(s, "/cal/1", cal_for({**summary(1), "divergence": 0.75}))
        assert c.flush(10)
        got = read_jsonl(tmp_path / "out.jsonl")[0]["summary"]
        assert got["divergence"] == 0.75 and got["counts"] == [0, 1, 2] and got["n"] == 5
    finally:
        c.close()
        srv.shutdown()


# --- sinkhole -----------------------------------------------------------------------
def test_nacked_alerts_are_redelivered_in_order_once_the_webhook_recovers(tmp_path: Path) -> None:
    web = WebhookServer(["500"] * 6)  # down for a while, then up
    srv = sinkhole(
        tmp_path,
        [jsonl(tmp_path), {"type": "webhook", "url": web.url, "retries": 1, "backoff": 0.01, "timeout": 1.0}],
    )
    c = SinkClient(tmp_path / "s.sock", tmp_path / "spool", retry_initial=0.01, retry_max=0.05)
    try:
        ids = [c.submit(summary(i), f"/cal/{i}", cal_for(summary(i), i + 1)) for i in range(5)]
        assert c.flush(20), c.stats()
        assert [b["id"] for b in web.delivered()] == ids  # exactly once each, in order
        # The JSONL output had the first alert already; the retries went to the webhook only.
        assert [r["id"] for r in read_jsonl(tmp_path / "out.jsonl")] == ids
        assert c.stats()["failed"] >= 3 and srv.nacked >= 3
    finally:
        c.close()
        srv.shutdown()
        web.close()


def test_duplicate_delivery_is_acknowledged_but_not_resent(tmp_path: Path) -> None:
    srv = sinkhole(tmp_path, [jsonl(tmp_path)])
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(tmp_path / "s.sock"))
        s.settimeout(5)
        r = FrameReader(s)
        s.sendall(pack({"t": "hello", "v": 1, "pid": 1}))
        hello = r.read(time.monotonic() + 5)
        assert hello is not None and hello["t"] == "hello"
        cal = cal_for(summary(1))
        aid = hashlib.sha256(cal).hexdigest()
        frame = {
            "t": "alert",
            "id": aid,
            "summary": summary(1),
            "cal_path": "/x",
            "cal": cal,
            "spooled_ns": 1,
        }
        s.sendall(pack(frame))
        assert r.read(time.monotonic() + 5) == {"t": "ack", "id": aid, "dup": False}
        s.sendall(pack(frame))
        assert r.read(time.monotonic() + 5) == {"t": "ack", "id": aid, "dup": True}
        assert len(read_jsonl(tmp_path / "out.jsonl")) == 1
        s.close()
    finally:
        srv.shutdown()


def test_permanent_rejection_goes_to_dead_letter_instead_of_stalling(tmp_path: Path) -> None:
    web = WebhookServer(["400"])
    dl = tmp_path / "dead.jsonl"
    srv = sinkhole(tmp_path, [{"type": "webhook", "url": web.url, "retries": 2}], dead_letter=str(dl))
    c = SinkClient(tmp_path / "s.sock", tmp_path / "spool")
    try:
        ids = [c.submit(summary(i), f"/cal/{i}", cal_for(summary(i), i + 1)) for i in range(2)]
        assert c.flush(10)
        dead = read_jsonl(dl)
        assert [d["alert"]["id"] for d in dead] == ids[:1] and "HTTP 400" in dead[0]["error"]
        assert dead[0]["alert"]["cal"]["base64"]  # the dead letter keeps the whole certificate
        assert [b["id"] for b in web.delivered()] == ids[1:]
    finally:
        c.close()
        srv.shutdown()
        web.close()


def test_protocol_rejects_oversized_and_garbage_frames(tmp_path: Path) -> None:
    srv = sinkhole(tmp_path, [jsonl(tmp_path)])
    try:
        for payload in (struct.pack(">I", MAX_FRAME + 1), struct.pack(">I", 3) + b"\xc1\xc1\xc1"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(tmp_path / "s.sock"))
            s.sendall(payload)
            s.settimeout(5)
            reply = FrameReader(s).read(time.monotonic() + 5)
            assert reply is not None and reply["t"] == "error"
            assert s.recv(1) == b""  # and the sinkhole hung up
            s.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(tmp_path / "s.sock"))
        s.sendall(pack({"t": "hello", "v": 99}))
        s.settimeout(5)
        refusal = FrameReader(s).read(time.monotonic() + 5)
        assert refusal is not None and "unsupported protocol version" in refusal["error"]
        s.close()
        with pytest.raises(ProtocolError):
            pack({"t": "alert", "cal": b"x" * (MAX_FRAME + 1)})
    finally:
        srv.shutdown()


def test_socket_is_0660_with_configured_group_and_path_safety(tmp_path: Path) -> None:
    import grp

    g = grp.getgrnam("daemon")
    srv = sinkhole(tmp_path, [jsonl(tmp_path)], group="daemon")
    sock = tmp_path / "s.sock"
    st = sock.stat()
    assert oct(st.st_mode & 0o777) == "0o660" and st.st_gid == g.gr_gid
    with pytest.raises(UsageError, match="already listening"):
        Sinkhole(srv.config).bind()
    srv.shutdown()
    assert not sock.exists()
    # A stale socket of ours is replaced ...
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock))
    stale.close()
    Sinkhole(srv.config).bind()
    # ... but never someone else's path, or a non-socket.
    other = tmp_path / "other.sock"
    o = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    o.bind(str(other))
    o.close()
    os.chown(other, 65534, -1)
    with pytest.raises(UsageError, match="owned by uid 65534"):
        Sinkhole(srv.config, other).bind()
    plain = tmp_path / "plain"
    plain.write_text("not a socket")
    with pytest.raises(UsageError, match="not a socket"):
        Sinkhole(srv.config, plain).bind()
    assert plain.read_text() == "not a socket"
    with pytest.raises(UsageError, match="group 'no-such-group-h7' does not exist"):
        Sinkhole(srv.config, group="no-such-group-h7")


def test_client_reconnects_after_in_process_sinkhole_restart(tmp_path: Path) -> None:
    srv = sinkhole(tmp_path, [jsonl(tmp_path)])
    c = SinkClient(tmp_path / "s.sock", tmp_path / "spool", retry_initial=0.01, retry_max=0.1)
    try:
        a = [c.submit(summary(i), "/c", cal_for(summary(i), i + 1)) for i in range(3)]
        assert c.flush(10)
        srv.shutdown()
        b = [c.submit(summary(i), "/c", cal_for(summary(i), i + 1)) for i in range(3, 6)]
        assert wait_for(lambda: c.stats()["failed"] > 0, 5)
        assert c.stats()["spool_depth"] == 3
        srv = sinkhole(tmp_path, [jsonl(tmp_path)])
        assert c.flush(10)
        assert [r["id"] for r in read_jsonl(tmp_path / "out.jsonl")] == a + b
    finally:
        c.close()
        srv.shutdown()


class SlowSpool(Spool):
    """A spool on a disk whose fsync takes 0.4 s (a busy disk, a network volume)."""

    def write(self, seq: int, blob: bytes) -> None:
        time.sleep(0.4)
        super().write(seq, blob)


def test_connected_sinkhole_gets_the_alert_before_the_spool_entry_is_durable(tmp_path: Path) -> None:
    """Fast path: with nothing older pending, delivery does not wait for the spool's fsync.

    The alert reaches the sinkhole while its spool entry is still being
    written; once acknowledged, the write is cancelled or the entry removed,
    so nothing stays spooled and it is delivered exactly once.  With older
    alerts pending, new ones queue behind them (order is kept).
    """
    srv = sinkhole(tmp_path, [jsonl(tmp_path)])
    client = SinkClient(tmp_path / "s.sock", tmp_path / "spool", retry_initial=0.01)
    client.spool.close()
    client.spool = SlowSpool(tmp_path / "spool", 1 << 20)
    try:
        first = client.submit(
            summary(0), "/c/0.cal", cal_for(summary(0), 1)
        )  # connects through the normal path
        assert client.flush(10)
        assert client.stats()["connected"]
        t0 = time.monotonic()
        second = client.submit(summary(1), "/c/1.cal", cal_for(summary(1), 2))
        returned = time.monotonic() - t0
        got = read_jsonl(tmp_path / "out.jsonl")
        assert [r["id"] for r in got] == [first, second]  # delivered before submit returned
        assert returned >= 0.4  # submit itself still waited for durability ...
        assert client.flush(5) and client.spool.depth == 0
        assert not list((tmp_path / "spool").glob("*.alert"))  # ... which the ack made moot
        st = client.stats()
        assert st["delivered"] == 2 and st["failed"] == 0
    finally:
        client.close()
        srv.shutdown()
    assert [r["id"] for r in read_jsonl(tmp_path / "out.jsonl")] == [first, second]  # once each
