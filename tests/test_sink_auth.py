"""The sinkhole authenticates alerts; the sensor authenticates the sinkhole.

Real users: the forging client, the idle flood and the foreign sinkhole run
as ``nobody`` (runuser), against a real sinkhole on a real Unix socket.
"""

from __future__ import annotations

import grp
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TIMESCALE
from test_sink_support import REPO, TEST_PUB, cal_for, read_jsonl, signed, summary, wait_for

from h7.config import parse
from h7.sink import SinkClient
from h7.sink.server import Sinkhole

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("runuser") is None,
        reason="needs root and runuser (runs clients as nobody)",
    ),
    pytest.mark.usefixtures("nobody_reaches_checkout"),
]
NOBODY = 65534
GROUP = "nogroup"


def as_nobody(code: str, *args: str, timeout: float = 60) -> subprocess.Popen[str]:
    env = {"PYTHONPATH": f"{REPO}:{REPO / 'tests'}", "PATH": os.environ.get("PATH", "")}
    return subprocess.Popen(
        ["runuser", "-u", "nobody", "-g", GROUP, "--", sys.executable, "-c", textwrap.dedent(code), *args],
        cwd="/",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory ``nobody`` can traverse, outside pytest's 0700 tree (another pytest run may
    reset that tree's mode at any time)."""
    d = Path(tempfile.mkdtemp(prefix="h7-auth-", dir="/tmp"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def start_sinkhole(d: Path, **sh: object) -> Sinkhole:
    cfg = parse(
        {
            "sinkhole": {"socket": str(d / "s.sock"), "pubkey": str(TEST_PUB), "group": GROUP, **sh},
            "output": [{"type": "jsonl", "path": str(d / "out.jsonl"), "name": "out"}],
        }
    ).sink
    srv = Sinkhole(cfg)
    srv.start()
    return srv


FORGER = """
import hashlib, json, socket, struct, sys, time
import msgpack
from test_sink_support import cal_for, signed, summary
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

def frame(m):
    b = msgpack.packb(m, use_bin_type=True)
    return struct.pack(">I", len(b)) + b

def read(s):
    buf = b""
    while len(buf) < 4:
        c = s.recv(4 - len(buf))
        if not c:
            return None
        buf += c
    (n,) = struct.unpack(">I", buf)
    body = b""
    while len(body) < n:
        c = s.recv(n - len(body))
        if not c:
            return None
        body += c
    return msgpack.unpackb(body, raw=False)

s0, genuine = signed(7)
forged_other_key = bytearray(genuine)
forged_other_key[-1] ^= 1
cases = [
    ("unsigned bytes", summary(1), b"ALERT! totally real", None),
    ("id is not the sha256", s0, genuine, "0" * 64),
    ("made-up host", {**s0, "host": "made-up-host"}, genuine, None),
    ("changed code", {**s0, "code": "LLM_AGENT_HIJACK", "channel": "L2"}, genuine, None),
    ("bad signature", s0, bytes(forged_other_key), None),
]
out = {}
for name, summ, cal, aid in cases:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.sendall(frame({"t": "hello", "v": 1, "pid": 1}))
    read(s)
    aid = aid or hashlib.sha256(cal).hexdigest()
    msg = {"t": "alert", "id": aid, "summary": summ, "cal_path": "/x", "cal": cal, "spooled_ns": 1}
    s.sendall(frame(msg))
    r = read(s)
    out[name] = r.get("t") if r else "closed"
    s.close()
print(json.dumps(out), flush=True)
"""


def test_forging_client_as_nobody_is_refused_counted_and_logged(
    open_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    srv = start_sinkhole(open_dir)
    try:
        p = as_nobody(FORGER, str(open_dir / "s.sock"))
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        import json

        replies = json.loads(out)
        assert set(replies) == {"unsigned bytes", "id is not the sha256", "made-up host", "changed code",
                                "bad signature"}  # fmt: skip
        assert all(v == "error" for v in replies.values()), replies
        assert srv.refused == 5 and srv.refused_by_uid == {NOBODY: 5}
        assert srv.delivered == 0 and not (open_dir / "out.jsonl").exists()
        # A genuine alert from root still goes through, and records who handed it over.
        c = SinkClient(open_dir / "s.sock", open_dir / "spool")
        s, cal = signed(7)
        aid = c.submit(s, "/cal/7", cal)
        assert c.flush(10)
        c.close()
        (rec,) = read_jsonl(open_dir / "out.jsonl")
        assert rec["id"] == aid == hashlib.sha256(cal).hexdigest() and rec["received_from_uid"] == 0
    finally:
        srv.shutdown()
    log = capfd.readouterr().err
    assert "REFUSED" in log and f"uid {NOBODY}" in log


FLOOD = """
import socket, struct, sys, time
import msgpack
conns = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    b = msgpack.packb({"t": "hello", "v": 1, "pid": i})
    try:
        s.sendall(struct.pack(">I", len(b)) + b)
    except OSError:
        pass  # refused and closed before the hello went out (a loaded host): counted below
    conns.append(s)
print("flooding", flush=True)
time.sleep(float(sys.argv[3]))
closed = 0
for s in conns:
    s.settimeout(0.2)
    try:
        while True:
            c = s.recv(65536)
            if not c:
                closed += 1
                break
    except (TimeoutError, OSError) as e:
        if isinstance(e, ConnectionResetError):
            closed += 1
print(closed, flush=True)
"""


def test_idle_connection_flood_does_not_block_delivery(open_dir: Path) -> None:
    srv = start_sinkhole(open_dir, idle_timeout=1.5)
    flood = None
    try:
        flood = as_nobody(FLOOD, str(open_dir / "s.sock"), "40", "4")
        assert flood.stdout is not None and flood.stdout.readline().strip() == "flooding"
        assert wait_for(lambda: srv.conns_refused >= 40 - srv.config.max_connections_per_peer, 10)
        t0 = time.monotonic()
        c = SinkClient(open_dir / "s.sock", open_dir / "spool")
        s, cal = signed(1)
        c.submit(s, "/cal/1", cal)
        assert c.flush(10), c.stats()
        took = time.monotonic() - t0
        c.close()
        assert took < 2.0 * TIMESCALE, took  # not an hour, not even the idle timeout
        out, _ = flood.communicate(timeout=30)
        # every flood connection was closed: refused at once, or by the idle timeout
        assert int(out.strip()) == 40
        assert srv.idle_closed >= srv.config.max_connections_per_peer
    finally:
        if flood is not None and flood.poll() is None:
            flood.kill()
            flood.wait()
        srv.shutdown()
    assert srv.delivered == 1


FOREIGN = """
import sys
from h7.config import parse
from h7.sink.server import Sinkhole
cfg = parse({"sinkhole": {"socket": sys.argv[1], "pubkey": sys.argv[2]},
             "output": [{"type": "jsonl", "path": sys.argv[3], "name": "out"}]}).sink
srv = Sinkhole(cfg)
srv.bind()
print("up", flush=True)
import threading
threading.Timer(float(sys.argv[4]), srv.request_stop).start()
srv.serve_forever()
"""


def test_sensor_hands_nothing_to_a_sinkhole_run_by_another_user(open_dir: Path) -> None:
    sockdir = open_dir / "run"
    sockdir.mkdir()
    os.chown(sockdir, NOBODY, grp.getgrnam(GROUP).gr_gid)
    out = sockdir / "stolen.jsonl"
    pub = open_dir / "test.pub"
    shutil.copy(TEST_PUB, pub)
    os.chmod(pub, 0o644)
    foreign = as_nobody(FOREIGN, str(sockdir / "s.sock"), str(pub), str(out), "8")
    try:
        assert foreign.stdout is not None and foreign.stdout.readline().strip() == "up", (
            foreign.stderr.read() if foreign.poll() is not None and foreign.stderr else "no 'up'"
        )
        c = SinkClient(sockdir / "s.sock", open_dir / "spool", retry_initial=0.05, retry_max=0.2)
        ids = [c.submit(summary(i), f"/cal/{i}", cal_for(summary(i), i + 1)) for i in range(3)]
        assert wait_for(lambda: c.stats()["foreign_sinkhole"] >= 2, 10), c.stats()
        st = c.stats()
        assert st["delivered"] == 0 and st["spool_depth"] == 3  # nothing handed over, nothing deleted
        assert "uid 65534" in str(st["last_error"])
        c.close()
        assert not out.exists() or out.read_text() == ""
        # Configured as the sinkhole's uid, the same sinkhole is trusted.
        c = SinkClient(sockdir / "s.sock", open_dir / "spool", sinkhole_uid=NOBODY)
        assert c.flush(10), c.stats()
        c.close()
        assert [r["id"] for r in read_jsonl(out)] == ids
    finally:
        foreign.kill()
        foreign.wait()
