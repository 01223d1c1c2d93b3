"""Where the sinkhole sends alerts.

Every output's ``send`` either returns — the alert is handed over as far as
that transport can tell — or raises ``DeliveryError``.  The sinkhole only
acknowledges an alert to the sensor once every output returned, so an
exception here means "keep it spooled and try again", never "lost".
``PermanentDeliveryError`` marks failures a retry cannot fix (an HTTP 400
from a bad template); the sinkhole sends those to its dead-letter file if
one is configured instead of stalling the whole stream on one alert.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import Any, ClassVar

from h7.errors import DeliveryError
from h7.sink import template
from h7.sink.formats import AlertRecord, Formatter, rfc3339

_RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


class PermanentDeliveryError(DeliveryError):
    """The receiver rejected this alert in a way retrying cannot fix."""


def dumps(obj: Any, ascii_only: bool = False) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=ascii_only, allow_nan=False)


class Output:
    """Base: one configured destination with its own format."""

    type: ClassVar[str] = ""

    def __init__(
        self,
        name: str,
        formatter: Formatter,
        fmt: str = "h7",
        include_cal: bool = False,
        stop: threading.Event | None = None,
    ) -> None:
        self.name = name
        self.formatter = formatter
        self.format = fmt
        self.include_cal = include_cal
        self.stop = stop or threading.Event()
        self.sent = 0
        self.errors = 0

    def payload(self, rec: AlertRecord) -> dict[str, Any]:
        return self.formatter.render(rec, self.format, self.include_cal)

    def line(self, rec: AlertRecord) -> bytes:
        return (dumps(self.payload(rec)) + "\n").encode()

    def send(self, rec: AlertRecord) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"{self.name} ({self.type}, {self.format})"


class StdoutOutput(Output):
    type = "stdout"

    def send(self, rec: AlertRecord) -> None:
        try:
            out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
            if out is not None:
                out.write(self.line(rec))
                out.flush()
            else:  # a text-only stream (tests, embedding)
                sys.stdout.write(self.line(rec).decode())
                sys.stdout.flush()
        except (OSError, ValueError) as e:
            raise DeliveryError(f"stdout: {e}") from e


class JsonlOutput(Output):
    """JSON Lines with size-based rotation: ``path`` -> ``path.1`` ... ``path.<backups>``.

    Rotation happens *before* a write would push the file past ``max_bytes``,
    so no file ever holds a partial line.  An external rotation (logrotate
    moving the file away) is noticed by inode and the file reopened.
    """

    type = "jsonl"

    def __init__(
        self,
        name: str,
        formatter: Formatter,
        path: Path,
        max_bytes: int = 64 * 1024 * 1024,
        backups: int = 5,
        fsync: bool = True,
        mode: int = 0o640,
        **kw: Any,
    ) -> None:
        super().__init__(name, formatter, **kw)
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.fsync = fsync
        self.mode = mode
        self._fd = -1

    def _open(self) -> None:
        self.path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, self.mode)

    def _reopen_if_moved(self) -> None:
        if self._fd < 0:
            self._open()
            return
        try:
            st = os.stat(self.path)
            same = (st.st_ino, st.st_dev) == (os.fstat(self._fd).st_ino, os.fstat(self._fd).st_dev)
        except FileNotFoundError:
            same = False
        if not same:
            os.close(self._fd)
            self._open()

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        if self.backups <= 0:
            self.path.unlink(missing_ok=True)
        else:
            for i in range(self.backups - 1, 0, -1):
                src = self.path.with_name(f"{self.path.name}.{i}")
                if src.exists():
                    os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._open()

    def send(self, rec: AlertRecord) -> None:
        data = self.line(rec)
        try:
            self._reopen_if_moved()
            size = os.fstat(self._fd).st_size
            if size > 0 and size + len(data) > self.max_bytes:
                self._rotate()
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            if self.fsync:
                os.fsync(self._fd)
        except OSError as e:
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = -1
            raise DeliveryError(f"{self.path}: {e.strerror}") from e

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "local0": 16, "local1": 17, "local2": 18,
    "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}  # fmt: skip
# OCSF severity_id -> syslog severity (0 emerg .. 7 debug).
_SYSLOG_SEVERITY = {0: 5, 1: 6, 2: 5, 3: 4, 4: 3, 5: 2, 6: 1}
_NILVALUE = "-"


def _header_field(value: str, limit: int) -> str:
    """RFC 5424 header fields are 1*N PRINTUSASCII (33..126); anything else is replaced."""
    clean = "".join(c if 33 <= ord(c) <= 126 else "_" for c in value)[:limit]
    return clean or _NILVALUE


def _sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


class SyslogOutput(Output):
    """RFC 5424 messages to the local syslog socket or a UDP/TCP collector.

    TCP uses RFC 6587 octet-counting framing by default (a JSON body may
    contain anything, so newline framing is only offered for old receivers).
    UDP is fire-and-forget; the socket is connected so an absent collector on
    the same host shows up as ECONNREFUSED on the next send and is retried.
    """

    type = "syslog"

    def __init__(
        self,
        name: str,
        formatter: Formatter,
        transport: str = "unix",
        address: str | None = None,
        port: int = 514,
        facility: str = "auth",
        app_name: str = "h7",
        sd_id: str = "h7@32473",
        framing: str = "octet-counting",
        max_message_bytes: int = 8192,
        timeout: float = 5.0,
        **kw: Any,
    ) -> None:
        super().__init__(name, formatter, **kw)
        self.transport = transport
        #: the local syslog daemon's socket, or a collector on this host
        self.address = address if address is not None else "/dev/log" if transport == "unix" else "127.0.0.1"
        self.port = port
        self.facility = FACILITIES[facility]
        self.app_name = _header_field(app_name, 48)
        self.sd_id = sd_id
        self.framing = framing
        self.max_message_bytes = max_message_bytes
        self.timeout = timeout
        self._sock: socket.socket | None = None

    def message(self, rec: AlertRecord) -> bytes:
        sid = self.formatter.severity_id(rec)
        pri = self.facility * 8 + _SYSLOG_SEVERITY.get(sid, 5)
        s = rec.summary
        ts = rec.event_time_ns()
        header = " ".join(
            [
                f"<{pri}>1",
                rfc3339(ts),
                _header_field(self.formatter.host_of(rec), 255),
                self.app_name,
                _header_field(str(os.getpid()), 128),
                _header_field(str(s.get("code", "")), 32),
            ]
        )
        params = {
            "id": rec.id,
            "channel": str(s.get("channel", "")),
            "code": str(s.get("code", "")),
            "agent": str(s.get("agent_id", "")),
            "severity": self.formatter.native(rec)["severity"],
            "cal_sha256": rec.cal_sha256,
        }

        def sd(extra: dict[str, str]) -> str:
            body = " ".join(f'{k}="{_sd_escape(v)}"' for k, v in {**params, **extra}.items())
            return f"[{self.sd_id} {body}]"

        msg = f"{header} {sd({})} {dumps(self.payload(rec), ascii_only=True)}".encode()
        if len(msg) > self.max_message_bytes:
            # Too big for the transport (UDP especially): keep the id, the
            # facts and the certificate path so nothing is ambiguous, and say so.
            short = dumps(
                {"id": rec.id, "message": self.formatter.message(rec), "cal_path": rec.cal_path}, True
            )
            msg = f"{header} {sd({'truncated': 'true'})} {short}".encode()[: self.max_message_bytes]
        return msg

    def _connect(self) -> socket.socket:
        """The first way to the collector that connects (a unix path: datagram, then stream)."""
        ways: list[tuple[int, int, int, Any]]
        if self.transport == "unix":
            ways = [
                (socket.AF_UNIX, kind, 0, self.address) for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)
            ]
        else:
            kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
            ways = [
                (f, t, p, addr) for f, t, p, _, addr in socket.getaddrinfo(self.address, self.port, type=kind)
            ]
        last: OSError | None = None
        for fam, typ, proto, addr in ways:
            s = socket.socket(fam, typ, proto)
            s.settimeout(self.timeout)
            try:
                s.connect(addr)
                return s
            except OSError as e:
                s.close()
                last = e
        raise last or OSError(f"cannot resolve {self.address}")

    def _peer_closed(self, s: socket.socket) -> bool:
        # A TCP write to a collector that went away "succeeds" once before the
        # RST arrives; checking for EOF first avoids losing that message.
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            return False
        try:
            return s.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def send(self, rec: AlertRecord) -> None:
        msg = self.message(rec)
        for attempt in (1, 2):
            try:
                if (
                    self._sock is not None
                    and self._sock.type == socket.SOCK_STREAM
                    and self._peer_closed(self._sock)
                ):
                    self._reset()
                if self._sock is None:
                    self._sock = self._connect()
                if self._sock.type == socket.SOCK_STREAM:
                    if self.transport == "unix" or self.framing == "lf":
                        self._sock.sendall(msg + b"\n")
                    else:
                        self._sock.sendall(str(len(msg)).encode() + b" " + msg)
                else:
                    self._sock.send(msg)
                    # A collector that is not listening answers with ICMP
                    # port-unreachable; on a local path that is already
                    # recorded here, so this datagram counts as failed.
                    err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                return
            except OSError as e:
                self._reset()
                if attempt == 2:
                    where = self.address if self.transport == "unix" else f"{self.address}:{self.port}"
                    raise DeliveryError(f"syslog {self.transport} {where}: {e}") from e

    def _reset(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None

    def close(self) -> None:
        self._reset()


class WebhookOutput(Output):
    """HTTP POST of a JSON body, with bounded retries and exponential backoff.

    http.client rather than urllib: no redirect following (a redirect would
    re-send the alert somewhere the operator did not configure) and no
    implicit proxy from the environment.
    """

    type = "webhook"

    def __init__(
        self,
        name: str,
        formatter: Formatter,
        url: str,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        body: Any = None,
        timeout: float = 5.0,
        retries: int = 4,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        **kw: Any,
    ) -> None:
        super().__init__(name, formatter, **kw)
        self.url = url
        u = urllib.parse.urlsplit(url)
        self._scheme = u.scheme
        self._host = u.hostname or ""
        self._port = u.port
        self._target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        self.method = method
        self.headers = {"Content-Type": "application/json", "User-Agent": "h7-sinkhole", **(headers or {})}
        self.body = body
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.attempts = 0

    def render_body(self, rec: AlertRecord) -> bytes:
        if self.body is None:
            return dumps(self.payload(rec)).encode()
        return dumps(template.render(self.body, self.formatter.context(rec))).encode()

    def _post(self, body: bytes, alert_id: str) -> tuple[int, str, str | None]:
        conn: http.client.HTTPConnection
        if self._scheme == "https":
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        try:
            headers = {**self.headers, "Idempotency-Key": alert_id, "X-H7-Alert-Id": alert_id}
            conn.request(self.method, self._target, body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read(4096).decode(errors="replace")
            return resp.status, text, resp.getheader("Retry-After")
        finally:
            conn.close()

    def send(self, rec: AlertRecord) -> None:
        body = self.render_body(rec)
        delay = self.backoff
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                if self.stop.wait(delay):
                    break
                delay = min(delay * 2, self.backoff_max)
            self.attempts += 1
            try:
                status, text, retry_after = self._post(body, rec.id)
            except (OSError, http.client.HTTPException) as e:
                last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                continue
            if 200 <= status < 300:
                return
            last = f"HTTP {status}: {text[:200].strip()}"
            if status not in _RETRYABLE_HTTP:
                raise PermanentDeliveryError(f"webhook {self._redacted()}: {last}")
            if retry_after and retry_after.strip().isdigit():
                delay = min(max(delay, float(retry_after)), self.backoff_max)
        raise DeliveryError(f"webhook {self._redacted()}: {last} after {self.retries + 1} attempts")

    def _redacted(self) -> str:
        # Slack/Teams webhook URLs carry their secret in the path.
        port = f":{self._port}" if self._port else ""
        return f"{self._scheme}://{self._host}{port}/..."

    def describe(self) -> str:
        return f"{self.name} (webhook {self._redacted()}, {self.format})"


class ExecOutput(Output):
    """Pipes each alert (one JSON line) to a fresh run of a command.

    One process per alert, and exit status 0 means delivered: the command
    decides success, so a crash half-way means a retry, never a loss.  (A
    long-lived process fed line by line was left out on purpose: a write
    into its pipe says nothing about whether it processed the line.)
    """

    type = "exec"

    def __init__(
        self,
        name: str,
        formatter: Formatter,
        command: list[str],
        timeout: float = 30.0,
        env: dict[str, str] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(name, formatter, **kw)
        self.command = command
        self.timeout = timeout
        self.env = env or {}

    def _env(self, rec: AlertRecord) -> dict[str, str]:
        return {
            **os.environ,
            **self.env,
            "H7_ALERT_ID": rec.id,
            "H7_ALERT_CODE": _safe_env(rec.summary.get("code")),
            "H7_ALERT_CHANNEL": _safe_env(rec.summary.get("channel")),
            "H7_ALERT_SEVERITY": self.formatter.native(rec)["severity"],
            "H7_CAL_PATH": _safe_env(rec.cal_path),
        }

    def send(self, rec: AlertRecord) -> None:
        data = self.line(rec)
        try:
            p = subprocess.run(
                self.command,
                input=data,
                capture_output=True,
                timeout=self.timeout,
                env=self._env(rec),
                cwd="/",
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise DeliveryError(f"exec {self.command[0]}: timed out after {self.timeout}s") from e
        except OSError as e:
            raise DeliveryError(f"exec {self.command[0]}: {e.strerror}") from e
        if p.returncode != 0:
            tail = p.stderr.decode(errors="replace").strip()[-300:]
            raise DeliveryError(f"exec {self.command[0]}: exit status {p.returncode}: {tail}")


def _safe_env(v: object) -> str:
    # Environment values cannot hold NUL; keep them short and printable.
    return re.sub(r"[^\x20-\x7e]", "_", "" if v is None else str(v))[:256]


def _given(spec: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The options a config table sets; the others take the output class's own default (written once)."""
    return {k: spec[k] for k in keys if k in spec}


def build_output(spec: dict[str, Any], formatter: Formatter, stop: threading.Event) -> Output:
    """One Output from a validated config table (see h7.config)."""
    kind = spec["type"]
    common = {**_given(spec, "include_cal"), "stop": stop}
    if "format" in spec:
        common["fmt"] = spec["format"]
    name = spec["name"]
    if kind == "stdout":
        return StdoutOutput(name, formatter, **common)
    if kind == "jsonl":
        opts = _given(spec, "max_bytes", "backups", "fsync")
        return JsonlOutput(name, formatter, Path(spec["path"]), **opts, **common)
    if kind == "syslog":
        opts = _given(
            spec, "transport", "address", "port", "facility", "app_name", "sd_id", "framing",
            "max_message_bytes", "timeout",
        )  # fmt: skip
        return SyslogOutput(name, formatter, **opts, **common)
    if kind == "webhook":
        opts = _given(spec, "method", "headers", "body", "timeout", "retries", "backoff", "backoff_max")
        return WebhookOutput(name, formatter, url=spec["url"], **opts, **common)
    if kind == "exec":
        opts = _given(spec, "timeout", "env")
        return ExecOutput(name, formatter, command=list(spec["command"]), **opts, **common)
    raise ValueError(f"unknown output type {kind!r}")
