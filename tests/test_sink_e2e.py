"""Crash tests with real processes: SIGKILL the sinkhole, SIGKILL the sensor side.

The receiver de-duplicates by alert id (at-least-once delivery is the
contract); the assertion is that after de-duplication every alert arrived
exactly once and in submission order.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from test_sink_support import (
    REPO,
    TEST_PUB,
    SinkholeProcess,
    cal_for,
    dedup_in_order,
    read_jsonl,
    sink_env,
    summary,
    wait_for,
)

from h7.sink import SinkClient


def write_config(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    out = tmp_path / "received.jsonl"
    cfg = tmp_path / "h7.toml"
    cfg.write_text(
        f'[sinkhole]\npubkey = "{TEST_PUB}"\n'
        f'[[output]]\ntype = "jsonl"\npath = "{out}"\nformat = "ocsf"\n{extra}'
    )
    return cfg, out


def received_ids(out: Path) -> list[str]:
    return [r["metadata"]["uid"] for r in read_jsonl(out)]


def test_sigkill_sinkhole_mid_stream_then_restart_delivers_everything_once_in_order(tmp_path: Path) -> None:
    # A slow second output (exec) widens the window in which SIGKILL lands
    # between "written to an output" and "acknowledged to the sensor".
    cfg, out = write_config(
        tmp_path,
        f'\n[[output]]\ntype = "exec"\ncommand = ["sh", "-c", "sleep 0.02; cat >> {tmp_path}/exec.jsonl"]\n',
    )
    sock = tmp_path / "alerts.sock"
    sink = SinkholeProcess(sock, cfg, tmp_path / "sinkhole.log")
    sink.start()
    client = SinkClient(sock, tmp_path / "spool", retry_initial=0.01, retry_max=0.1)
    ids: list[str] = []
    n = 60

    def produce() -> None:
        for i in range(n):
            ids.append(client.submit(summary(i), f"/var/lib/h7/cal/{i}.cal", cal_for(summary(i), i + 1)))
            time.sleep(0.01)

    producer = threading.Thread(target=produce)
    try:
        producer.start()
        assert wait_for(lambda: client.stats()["delivered"] >= 15, 20)
        sink.kill9()  # mid-stream: the producer keeps going
        assert wait_for(lambda: client.stats()["failed"] > 0, 10)
        time.sleep(0.2)
        depth_while_down = client.stats()["spool_depth"]
        sink.start()
        producer.join(30)
        assert not producer.is_alive()
        assert client.flush(30), client.stats()
    finally:
        client.close()
        sink.stop()
    assert depth_while_down > 0
    raw = received_ids(out)
    assert dedup_in_order(raw) == ids
    exec_raw = [json.loads(x)["id"] for x in (tmp_path / "exec.jsonl").read_text().splitlines()]
    assert dedup_in_order(exec_raw) == ids
    # Report what at-least-once cost in this run.
    print(f"\nsinkhole SIGKILL: {n} alerts, {len(raw) - n} jsonl duplicates, "
          f"{len(exec_raw) - n} exec duplicates, spool depth while down {depth_while_down}")  # fmt: skip


CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
sys.path.insert(0, {tests!r})
from h7.sink import SinkClient
from test_sink_support import cal_for
c = SinkClient(Path({sock!r}), Path({spool!r}), retry_initial=0.01, retry_max=0.05)
def s(i):
    return {{"channel": "L5", "code": "PTRACE_ATTACH_DETECTED", "agent_id": "a:1:2", "ts_ns": i,
            "divergence": 1.0, "threshold": 0.5, "key": str(i), "evidence": {{}}, "suppressed": 0}}
ids = [c.submit(s(i), f"/cal/{{i}}", cal_for(s(i), i + 1)) for i in range({n})]
print(json.dumps(ids), flush=True)
time.sleep(120)
"""


def run_child(tmp_path: Path, sock: Path, n: int) -> tuple[subprocess.Popen[str], list[str]]:
    code = CHILD.format(
        repo=str(REPO), tests=str(REPO / "tests"), sock=str(sock), spool=str(tmp_path / "spool"), n=n
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=sink_env())
    assert p.stdout is not None
    line = p.stdout.readline()  # bounded: the child prints right after submitting
    assert line, "child died before submitting"
    return p, json.loads(line)


def test_sigkill_sensor_with_nonempty_spool_then_restart_redelivers(tmp_path: Path) -> None:
    cfg, out = write_config(tmp_path)
    sock = tmp_path / "alerts.sock"
    child, ids = run_child(tmp_path, sock, 25)  # no sinkhole yet: all 25 stay spooled
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert len(list((tmp_path / "spool").glob("*.alert"))) == 25
    sink = SinkholeProcess(sock, cfg, tmp_path / "sinkhole.log")
    sink.start()
    try:
        client = SinkClient(sock, tmp_path / "spool")  # the dead child's flock went with it
        assert client.flush(30), client.stats()
        assert client.stats()["delivered"] == 25
        client.close()
    finally:
        sink.stop()
    assert received_ids(out) == ids
    assert list((tmp_path / "spool").glob("*.alert")) == []


def test_sigkill_sensor_mid_delivery_then_restart_finishes_exactly_once(tmp_path: Path) -> None:
    cfg, out = write_config(
        tmp_path, '\n[[output]]\ntype = "exec"\ncommand = ["sh", "-c", "sleep 0.05; cat >/dev/null"]\n'
    )
    sock = tmp_path / "alerts.sock"
    sink = SinkholeProcess(sock, cfg, tmp_path / "sinkhole.log")
    sink.start()
    try:
        child, ids = run_child(tmp_path, sock, 40)
        assert wait_for(lambda: len(read_jsonl(out)) >= 5, 20)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        left = len(list((tmp_path / "spool").glob("*.alert")))
        assert 0 < left < 40
        client = SinkClient(sock, tmp_path / "spool")
        assert client.flush(30), client.stats()
        client.close()
    finally:
        sink.stop()
    raw = received_ids(out)
    assert dedup_in_order(raw) == ids
    # The sinkhole's dedup window absorbs the one alert that was in flight at the kill.
    assert len(raw) == len(ids)
    print(f"\nsensor SIGKILL mid-delivery: {left} of 40 left in the spool, {len(raw) - 40} duplicates")
