"""Where an alert's time goes between its certificate and the sinkhole's output, for ``make bench``.

``bench.latency`` measures act -> ``.cal`` -> sinkhole line with the whole sensor
running; its L5 figure at the sink has missed its 10-ms target since session 7.
This splits the path after the detection, with nothing else in the process:

* ``sink_cal_write_ms``: sign and write one certificate durably (``CalWriter.emit``:
  the temp file's fsync, the link, the directory's fsync);
* ``sink_submit_ms``: ``SinkClient.submit`` -- spool the alert durably (its own
  fsyncs); the client's sender thread delivers it meanwhile (the fast path);
* ``sink_submit_to_line_ms``: from ``submit``'s return to the line in the
  sinkhole's JSONL output (a real ``h7 sinkhole`` process: it verifies the
  certificate, then writes);
* ``sink_cal_to_line_ms``: the three together, what the sink adds to a detection.

p50 and p99 of each over N alerts 50 ms apart.  No targets: the disk's fsync
time is most of it, and it is reported beside ``cal_fsync_floor`` of the latency
section.  Real processes, a unix socket in a temporary directory; bounded in
count and time.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cal_bench import AGENT, _alert
from bench.harness import BenchError, Procs, percentile, wait_for
from h7.cal.keys import keygen
from h7.cal.writer import CalWriter
from h7.procgroup import poll_until
from h7.sink.client import SinkClient

ROOT = Path(__file__).resolve().parent.parent


def _has_lines(path: Path, n: int) -> bool:
    try:
        return path.read_bytes().count(b"\n") >= n
    except FileNotFoundError:
        return False


def run(quick: bool = False) -> dict[str, float]:
    n = 10 if quick else 100
    budget = time.monotonic() + (30 if quick else 120)
    with tempfile.TemporaryDirectory(prefix="h7-sink-bench-") as tmp_s:
        tmp = Path(tmp_s)
        priv, pub = keygen(tmp / "keys")
        sock, out = tmp / "alerts.sock", tmp / "alerts.jsonl"
        cfg = tmp / "h7.toml"
        cfg.write_text(
            f'[sinkhole]\nsocket = "{sock}"\npubkey = "{pub}"\n'
            f'[[output]]\ntype = "jsonl"\npath = "{out}"\nformat = "h7"\n'
        )
        cal_ms: list[float] = []
        sub_ms: list[float] = []
        line_ms: list[float] = []
        with Procs() as procs:
            sinkhole = procs.spawn(
                [sys.executable, "-m", "h7", "sinkhole", "--config", str(cfg)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for(sock.exists, 20, "the sinkhole's socket", sinkhole)
            with CalWriter(tmp / "cal", priv, host="bench", defer_head=True) as w:
                client = SinkClient(sock, tmp / "spool")
                try:
                    time.sleep(0.3)  # connected: the fast path is what a sensor with a live sinkhole takes
                    for i in range(n):
                        if i and time.monotonic() > budget:
                            break
                        a = _alert(i)
                        t0 = time.perf_counter()
                        path, data = w.emit(a, AGENT, {})
                        t1 = time.perf_counter()
                        summary = {**a.summary(), "host": "bench", "cal_path": str(path)}
                        client.submit(summary, str(path), data)
                        t2 = time.perf_counter()
                        if not poll_until(functools.partial(_has_lines, out, i + 1), 5, 0.0002):
                            raise BenchError(f"alert {i} did not reach the sinkhole's output in 5 s")
                        t3 = time.perf_counter()
                        cal_ms.append((t1 - t0) * 1e3)
                        sub_ms.append((t2 - t1) * 1e3)
                        line_ms.append((t3 - t2) * 1e3)
                        w.sync_head()
                        time.sleep(0.05)
                finally:
                    client.close()
    total = [a + b + c for a, b, c in zip(cal_ms, sub_ms, line_ms, strict=True)]
    res: dict[str, float] = {"sink_alerts": float(len(total))}
    for name, xs in (
        ("sink_cal_write_ms", cal_ms),
        ("sink_submit_ms", sub_ms),
        ("sink_submit_to_line_ms", line_ms),
        ("sink_cal_to_line_ms", total),
    ):
        res[f"{name}_p50"] = percentile(xs, 50)
        res[f"{name}_p99"] = percentile(xs, 99)
    return res


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
