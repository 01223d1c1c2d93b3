"""Real receivers on loopback for the sink tests (no test functions here).

Everything binds to 127.0.0.1 port 0 and every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from conftest import TIMESCALE

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
#: The sinkhole verifies every alert's certificate: the sink tests sign with the published
#: TEST-ONLY vector key and configure its public key.
TEST_PUB = REPO / "tests" / "vectors" / "cal_v1_test.pub"
_TEST_SEED = bytes.fromhex(
    json.loads((REPO / "tests" / "vectors" / "cal_v1.json").read_text())["private_key_seed_hex"]
)


def cal_for(s: dict[str, Any], seq: int = 1) -> bytes:
    """A real ALERT_EMITTED certificate whose signed fields match summary ``s``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from h7.alert import Alert
    from h7.batch import AgentInfo
    from h7.cal.format import ZERO_HASH, sign_body
    from h7.cal.keys import key_id
    from h7.cal.writer import ChainPosition, build_alert_body

    key = Ed25519PrivateKey.from_private_bytes(_TEST_SEED)
    alert = Alert(
        channel=s["channel"],
        code=s["code"],
        agent_id=s["agent_id"],
        ts_ns=int(s["ts_ns"]),
        divergence=float(s["divergence"]),
        threshold=float(s["threshold"]),
        key=str(s["key"]),
        evidence={},
        syscall_trace=[],
        suppressed=int(s.get("suppressed", 0)),
    )
    agent = AgentInfo(0, s["agent_id"], 0, "", [], 0)
    body = build_alert_body(
        alert,
        agent,
        {},
        at=ChainPosition(
            str(s.get("host", "testhost")), seq, ZERO_HASH, key_id(key.public_key()), int(s["ts_ns"])
        ),
    )
    return sign_body(body, key)


def signed(
    i: int = 0, code: str = "UNKNOWN_DESTINATION", channel: str = "L4"
) -> tuple[dict[str, Any], bytes]:
    s = summary(i, code, channel)
    return s, cal_for(s, i + 1)


def summary(i: int = 0, code: str = "UNKNOWN_DESTINATION", channel: str = "L4") -> dict[str, Any]:
    return {
        "channel": channel,
        "code": code,
        "agent_id": f"python3:{4000 + i}:123456",
        "ts_ns": 1_000_000 + i,
        "divergence": 0.91,
        "threshold": 0.5,
        "key": f"203.0.113.{i % 250}:443",
        "evidence": {"dst": f"203.0.113.{i % 250}", "port": 443},
        "suppressed": 0,
        "host": "testhost",
        "seq": i,
    }


def wait_for(pred: Any, timeout: float, interval: float = 0.02) -> bool:
    """``pred()`` within ``timeout`` s times H7_TEST_TIMESCALE (a loaded or emulated host is slower)."""
    deadline = time.monotonic() + timeout * TIMESCALE
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


class WebhookServer:
    """A scripted HTTP receiver: ``script`` is consumed one entry per request
    ("500", "timeout", "400", ...) and then everything gets 200."""

    def __init__(self, script: list[str] | None = None, hang_s: float = 2.0) -> None:
        self.script = list(script or [])
        self.hang_s = hang_s
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    action = outer.script.pop(0) if outer.script else "200"
                    outer.requests.append(
                        {"t": time.monotonic(), "action": action, "body": body, "headers": dict(self.headers)}
                    )
                if action == "timeout":
                    time.sleep(outer.hang_s)
                    with contextlib.suppress(OSError):
                        self.send_response(200)
                        self.end_headers()
                    return
                self.send_response(int(action))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self.httpd.server_address[1]}/hook/secret-token"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def delivered(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests if r["action"] == "200"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class UdpReceiver:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(5.0)
        self.port = self.sock.getsockname()[1]

    def recv(self) -> bytes:
        data, _ = self.sock.recvfrom(65535)
        return data

    def close(self) -> None:
        self.sock.close()


class TcpReceiver:
    """Collects RFC 6587 octet-counted frames from any number of connections."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(4)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.frames: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _conn(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        buf = b""
        deadline = time.monotonic() + 30
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            buf += chunk
            while b" " in buf:
                n, rest = buf.split(b" ", 1)
                if not n.isdigit() or len(rest) < int(n):
                    break
                self.frames.append(rest[: int(n)])
                buf = rest[int(n) :]
        conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(2)


def sink_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class SinkholeProcess:
    """``python -m h7.sink sinkhole`` as a real child process."""

    def __init__(self, socket_path: Path, config: Path, log: Path) -> None:
        self.socket_path = socket_path
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        logf = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "h7.sink", "sinkhole", "--socket", str(self.socket_path),
             "--config", str(self.config)],
            stdout=logf, stderr=logf, env=sink_env(), cwd=REPO,
        )  # fmt: skip
        logf.close()

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"sinkhole exited {self.proc.returncode}: {self.log.read_text()}")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(self.socket_path))
                return True
            except OSError:
                return False
            finally:
                s.close()

        assert wait_for(up, timeout), f"sinkhole did not come up: {self.log.read_text()}"

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.contextmanager
def sinkhole_process(socket_path: Path, config: Path, log: Path) -> Iterator[SinkholeProcess]:
    p = SinkholeProcess(socket_path, config, log)
    p.start()
    try:
        yield p
    finally:
        p.stop()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Complete records only: the writer may be mid-line while a test polls the file."""
    if not path.exists():
        return []
    text = path.read_text()
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def dedup_in_order(ids: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out
