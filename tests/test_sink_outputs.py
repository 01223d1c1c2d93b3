"""Each output against a real receiver on loopback (or a real file / process)."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_sink_support import TcpReceiver, UdpReceiver, WebhookServer, summary, wait_for

from h7.config import parse_text
from h7.errors import DeliveryError
from h7.sink.formats import AlertRecord, Formatter
from h7.sink.framing import alert_id
from h7.sink.outputs import (
    ExecOutput,
    JsonlOutput,
    PermanentDeliveryError,
    StdoutOutput,
    SyslogOutput,
    WebhookOutput,
)

FMT = Formatter("sinkhost")


def record(i: int = 0, **over: Any) -> AlertRecord:
    s = {**summary(i), **over}
    cal = f"cal-{i}".encode()
    return AlertRecord(alert_id(s, cal), s, f"/var/lib/h7/cal/{i:06d}.cal", cal, time.time_ns())


# --- webhook -------------------------------------------------------------------
def test_webhook_retries_500s_and_timeouts_with_backoff_then_delivers() -> None:
    srv = WebhookServer(["500", "timeout", "503", "200"], hang_s=1.0)
    try:
        out = WebhookOutput("hook", FMT, url=srv.url, timeout=0.3, retries=5, backoff=0.1, backoff_max=1.0)
        rec = record(1)
        t0 = time.monotonic()
        out.send(rec)
        took = time.monotonic() - t0
        assert [r["action"] for r in srv.requests] == ["500", "timeout", "503", "200"]
        got = srv.delivered()
        assert len(got) == 1 and got[0]["id"] == rec.id
        assert srv.requests[-1]["headers"]["X-H7-Alert-Id"] == rec.id
        # Backoff doubles: 0.1, 0.2, 0.4 s between attempts, plus the 0.3 s timeout.
        gaps = [b["t"] - a["t"] for a, b in zip(srv.requests, srv.requests[1:], strict=False)]
        assert gaps[0] >= 0.09 and gaps[2] >= 0.39, gaps
        assert gaps[1] >= 0.3 + 0.19, gaps  # the hung request timed out, then waited 0.2 s
        assert took < 5
    finally:
        srv.close()


def test_webhook_gives_up_after_retries_with_retryable_error() -> None:
    srv = WebhookServer(["500"] * 10)
    try:
        out = WebhookOutput("hook", FMT, url=srv.url, timeout=0.5, retries=2, backoff=0.01)
        with pytest.raises(DeliveryError) as ei:
            out.send(record())
        assert not isinstance(ei.value, PermanentDeliveryError)
        assert "HTTP 500" in str(ei.value) and "3 attempts" in str(ei.value)
        assert "secret-token" not in str(ei.value)  # webhook secrets stay out of logs
        assert len(srv.requests) == 3
    finally:
        srv.close()


def test_webhook_4xx_is_permanent_and_not_retried() -> None:
    srv = WebhookServer(["400"])
    try:
        out = WebhookOutput("hook", FMT, url=srv.url, timeout=0.5, retries=3, backoff=0.01)
        with pytest.raises(PermanentDeliveryError):
            out.send(record())
        assert len(srv.requests) == 1
    finally:
        srv.close()


def test_webhook_connection_refused_is_retryable() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now
    out = WebhookOutput("hook", FMT, url=f"http://127.0.0.1:{port}/x", timeout=0.5, retries=1, backoff=0.01)
    with pytest.raises(DeliveryError) as ei:
        out.send(record())
    assert not isinstance(ei.value, PermanentDeliveryError)


SLACK = """
[[output]]
type = "webhook"
url = "URL"
[output.body]
text = ":rotating_light: *{{ title }}* on `{{ host }}` ({{ severity }})\\n{{ message }}\\nid {{ id }}"
"""
PAGERDUTY = """
[[output]]
type = "webhook"
url = "URL"
[output.body]
routing_key = "${PD_ROUTING_KEY}"
event_action = "trigger"
dedup_key = "{{ id }}"
[output.body.payload]
summary = "{{ message }}"
source = "{{ host }}"
severity = "{{ pagerduty_severity }}"
timestamp = "{{ time }}"
component = "{{ agent_id }}"
group = "{{ channel }}"
class = "{{ code }}"
custom_details = "{{ alert }}"
"""


def test_webhook_body_templates_slack_and_pagerduty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_ROUTING_KEY", "R0UT1NGKEY")
    srv = WebhookServer()
    try:
        for text in (SLACK, PAGERDUTY):
            cfg = parse_text(text.replace("URL", srv.url)).sink
            spec = cfg.outputs[0]
            out = WebhookOutput(
                "hook", FMT, url=spec["url"], body=spec["body"], timeout=1.0, retries=0, backoff=0.01
            )
            # A hostile process name cannot break out of the JSON string it lands in.
            out.send(record(7, agent_id='evil"},{"x":1:77:88'))
        slack, pd = srv.delivered()
        assert set(slack) == {"text"}
        assert "on `testhost` (medium)" in slack["text"] and 'evil"},{"x":1' in slack["text"]
        assert pd["routing_key"] == "R0UT1NGKEY" and pd["event_action"] == "trigger"
        assert len(pd["dedup_key"]) == 64
        p = pd["payload"]
        assert p["severity"] in {"critical", "error", "warning", "info"}
        assert p["source"] == "testhost" and p["class"] == "UNKNOWN_DESTINATION"
        assert isinstance(p["custom_details"], dict) and p["custom_details"]["id"] == pd["dedup_key"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", p["timestamp"])
    finally:
        srv.close()


# --- syslog --------------------------------------------------------------------
# RFC 5424 section 6, as a regular expression over the whole message.
_SD_NAME = r"[!#-<>-\\^-~]{1,32}"
_SD_ELEMENT = rf'\[{_SD_NAME}(?: {_SD_NAME}="(?:[^"\\\]]|\\["\\\]])*")*\]'
RFC5424 = re.compile(
    rf"<(?P<pri>\d{{1,3}})>(?P<version>1) "
    r"(?P<ts>-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) "
    r"(?P<host>[!-~]{1,255}) (?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) "
    rf"(?P<sd>-|(?:{_SD_ELEMENT})+)"
    r"(?: (?P<msg>.*))?",
    re.S,
)


def sd_params(sd: str) -> dict[str, str]:
    return {k: re.sub(r"\\(.)", r"\1", v) for k, v in re.findall(r' ([^ =\]"]+)="((?:[^"\\]|\\.)*)"', sd)}


def check_5424(raw: bytes, rec: AlertRecord, facility: int, severity: int) -> dict[str, Any]:
    m = RFC5424.fullmatch(raw.decode("utf-8"))
    assert m, raw[:300]
    assert int(m["pri"]) == facility * 8 + severity
    assert m["host"] == "testhost" and m["app"] == "h7" and m["msgid"] == rec.summary["code"]
    params = sd_params(m["sd"])
    assert m["sd"].startswith("[h7@32473 ")
    assert params["id"] == rec.id and params["agent"] == rec.summary["agent_id"]
    return {"params": params, "msg": m["msg"]}


def test_syslog_udp_rfc5424() -> None:
    rx = UdpReceiver()
    try:
        out = SyslogOutput("sys", FMT, transport="udp", address="127.0.0.1", port=rx.port, facility="auth")
        rec = record(3, agent_id='we]ird "name":3:4')
        out.send(rec)
        got = check_5424(rx.recv(), rec, facility=4, severity=4)  # medium -> warning
        assert json.loads(got["msg"])["id"] == rec.id
        out.close()
    finally:
        rx.close()


def test_syslog_udp_oversized_message_is_truncated_not_dropped() -> None:
    rx = UdpReceiver()
    try:
        out = SyslogOutput(
            "sys", FMT, transport="udp", address="127.0.0.1", port=rx.port, max_message_bytes=1024
        )
        rec = record(3, evidence={"trace": ["x" * 100] * 100})
        out.send(rec)
        raw = rx.recv()
        assert len(raw) <= 1024
        got = check_5424(raw, rec, facility=4, severity=4)
        assert got["params"]["truncated"] == "true"
        assert json.loads(got["msg"])["cal_path"] == rec.cal_path
    finally:
        rx.close()


def test_syslog_tcp_octet_counting_and_reconnect() -> None:
    rx = TcpReceiver()
    try:
        out = SyslogOutput("sys", FMT, transport="tcp", address="127.0.0.1", port=rx.port, facility="local3")
        recs = [record(i, code="LLM_AGENT_HIJACK", channel="L2") for i in range(3)]
        for r in recs:
            out.send(r)
        assert wait_for(lambda: len(rx.frames) == 3, 5)
        # The collector drops the connection: the next alert goes out on a new one, not into the void.
        assert out._sock is not None
        out._sock.shutdown(socket.SHUT_RDWR)  # same effect on our side as the peer closing
        r4 = record(4, code="LLM_AGENT_HIJACK", channel="L2")
        out.send(r4)
        assert wait_for(lambda: len(rx.frames) == 4, 5)
        for raw, r in zip(rx.frames, [*recs, r4], strict=True):
            check_5424(raw, r, facility=19, severity=2)  # critical -> crit
        out.close()
    finally:
        rx.close()


def test_syslog_local_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "log"  # stands in for /dev/log
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(str(path))
    rx.settimeout(5)
    try:
        out = SyslogOutput("sys", FMT, transport="unix", address=str(path), facility="authpriv")
        rec = record(9, code="PTRACE_ATTACH_DETECTED", channel="L5")
        out.send(rec)
        check_5424(rx.recv(65535), rec, facility=10, severity=3)  # high -> err
        out.close()
    finally:
        rx.close()


def test_syslog_unreachable_udp_collector_surfaces_as_error() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = SyslogOutput("sys", FMT, transport="udp", address="127.0.0.1", port=port)
    # The first datagram provokes ICMP port-unreachable; a later send reports it.
    with pytest.raises(DeliveryError):
        for i in range(5):
            out.send(record(i))
            time.sleep(0.05)


# --- JSON Lines ------------------------------------------------------------------
def test_jsonl_rotation_keeps_whole_lines_and_backups(tmp_path: Path) -> None:
    path = tmp_path / "log" / "alerts.jsonl"
    out = JsonlOutput("file", FMT, path, max_bytes=4000, backups=2, fmt="ocsf")
    recs = [record(i) for i in range(30)]
    for r in recs:
        out.send(r)
    out.close()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["alerts.jsonl", "alerts.jsonl.1", "alerts.jsonl.2"]
    ids: list[str] = []
    for name in ("alerts.jsonl.2", "alerts.jsonl.1", "alerts.jsonl"):
        p = path.parent / name
        assert p.stat().st_size <= 4000
        assert oct(p.stat().st_mode & 0o777) == "0o640"
        ids += [json.loads(line)["metadata"]["uid"] for line in p.read_text().splitlines()]
    # Oldest rotated out beyond the two backups; what is kept is the newest, in order.
    assert ids == [r.id for r in recs][-len(ids) :]
    assert len(ids) < 30


def test_jsonl_reopens_after_external_rotation(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    out = JsonlOutput("file", FMT, path)
    out.send(record(1))
    os.rename(path, tmp_path / "alerts.jsonl.logrotated")
    out.send(record(2))
    out.close()
    assert json.loads(path.read_text())["id"] == record(2).id


# --- exec --------------------------------------------------------------------------
def test_exec_pipes_each_alert_to_command_stdin(tmp_path: Path) -> None:
    sink = tmp_path / "piped.jsonl"
    env_log = tmp_path / "env.txt"
    out = ExecOutput(
        "cmd",
        FMT,
        command=["sh", "-c", f'cat >> {sink} && echo "$H7_ALERT_ID $H7_ALERT_SEVERITY" >> {env_log}'],
    )
    recs = [record(i) for i in range(3)]
    for r in recs:
        out.send(r)
    lines = sink.read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == [r.id for r in recs]
    assert env_log.read_text().split("\n")[0] == f"{recs[0].id} medium"


def test_exec_failure_and_timeout_are_delivery_errors(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="exit status 3: boom"):
        ExecOutput("cmd", FMT, command=["sh", "-c", "cat >/dev/null; echo boom >&2; exit 3"]).send(record())
    t0 = time.monotonic()
    with pytest.raises(DeliveryError, match="timed out"):
        ExecOutput("cmd", FMT, command=["sleep", "10"], timeout=0.3).send(record())
    assert time.monotonic() - t0 < 5


def test_stdout_output(capsys: pytest.CaptureFixture[str]) -> None:
    StdoutOutput("out", FMT).send(record(5))
    line = capsys.readouterr().out
    assert json.loads(line)["id"] == record(5).id and line.endswith("\n")


def test_outputs_are_usable_from_threads(tmp_path: Path) -> None:
    # The sinkhole calls outputs from connection threads (serialised by a lock).
    out = JsonlOutput("file", FMT, tmp_path / "a.jsonl")
    lock = threading.Lock()

    def work(base: int) -> None:
        for i in range(20):
            with lock:
                out.send(record(base + i))

    ts = [threading.Thread(target=work, args=(b,)) for b in (0, 100, 200)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 60
