"""Certificate throughput for ``make bench``: durable sign+write rate and verify rate.

Both numbers are what an operator cares about: how many detections per
second H7 can turn into fsync'ed evidence on this disk, and how fast an
auditor can check a directory of it.  Runs in a temporary directory on the
default temp filesystem; no assertions, just measurements.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from h7 import registry
from h7.alert import Alert
from h7.batch import AgentInfo
from h7.cal.format import verify_bytes
from h7.cal.keys import keygen, load_public_key
from h7.cal.writer import CalWriter


def _alert(i: int) -> Alert:
    return Alert(
        channel="L4",
        code=registry.codes()["L4"][0],  # a destination alert: the common case with evidence
        agent_id="bench:1000:12345",
        ts_ns=1_700_000_000_000_000_000 + i,
        divergence=0.91,
        threshold=0.5,
        key=f"198.51.100.{i % 250}:443",
        evidence={"dst": f"198.51.100.{i % 250}", "port": 443, "proto": "tcp"},
        syscall_trace=[
            {"type": "syscall", "nr": n, "ts_ns": 1_700_000_000_000_000_000 + n} for n in range(32)
        ],
    )


#: the agent the benchmark's certificates are about (the sink section signs the same ones)
AGENT = AgentInfo(
    agent=1,
    agent_id="bench:1000:12345",
    root_pid=1000,
    exe="/usr/bin/python3",
    cmdline=["python3", "agent.py"],
    start_time_ns=12345,
)


def run(quick: bool = False) -> dict[str, float]:
    """{'cal_sign_write_per_s': ..., 'cal_verify_per_s': ...} measured on this host."""
    n_write = 100 if quick else 1000
    n_verify = 1000 if quick else 10000
    budget_s = 10.0 if quick else 60.0
    agent = AGENT
    with tempfile.TemporaryDirectory(prefix="h7-cal-bench-") as tmp:
        priv, pub_path = keygen(Path(tmp) / "keys")
        pub = load_public_key(pub_path)
        with CalWriter(Path(tmp) / "cal", priv, host="bench") as w:
            deadline = time.monotonic() + budget_s
            t0 = time.perf_counter()
            done = 0
            data = b""
            for i in range(n_write):
                _, data = w.emit(_alert(i), agent, {"events": 0})
                done += 1
                if time.monotonic() > deadline:
                    break
            write_rate = done / (time.perf_counter() - t0)
        deadline = time.monotonic() + budget_s
        t0 = time.perf_counter()
        done = 0
        for _ in range(n_verify):
            verify_bytes(data, pub)
            done += 1
            if time.monotonic() > deadline:
                break
        verify_rate = done / (time.perf_counter() - t0)
    return {"cal_sign_write_per_s": write_rate, "cal_verify_per_s": verify_rate}


if __name__ == "__main__":  # pragma: no cover
    import sys

    for k, v in run(quick="--quick" in sys.argv).items():
        print(f"{k}: {v:.1f}")
