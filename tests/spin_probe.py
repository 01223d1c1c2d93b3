"""L1's single-thread CPU probe: `h7 attach` on tests/agents/spin_agent.py, real BPF.

    python tests/spin_probe.py [--baseline 30s] [--quiet-s 60] [--spin-s 60] [--hog]

Learns a baseline of the quiet agent, watches it quiet for ``--quiet-s``
(any L1 certificate then is a false alert), then makes its one thread spin
and measures the time to L1's DRIFT_DETECTED certificate.  ``--hog`` runs a
nice-0 CPU hog (another process, not watched) during the quiet phase: an L1
that alarms because OTHER processes load the host is wrong.  Prints one JSON
line: latency, false alerts, and L1's window peaks (status file).  Used by
tests/test_live_cpu.py and as a development probe (docs/detection.md, L1).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "tests" / "agents" / "spin_agent.py"


def _l1_certs(cal_dir: Path, pub: Path) -> list[dict[str, Any]]:
    from h7.cal import verify_file

    out = []
    for c in sorted(cal_dir.glob("*.cal")):
        try:
            body = verify_file(c, pub).body
        except Exception:
            continue
        if body.get("action") == "ALERT_EMITTED" and body.get("channel") == "L1":
            out.append(body)
    return out


def _status(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _l1_window(status: dict[str, Any]) -> dict[str, Any]:
    # the status file nests per agent: find the L1 channel status wherever it is
    stack: list[Any] = [status]
    for _ in range(10000):
        if not stack:
            break
        cur = stack.pop()
        if isinstance(cur, dict):
            if "L1" in cur and isinstance(cur["L1"], dict) and "window" in cur["L1"]:
                return cur["L1"]
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)
    return {}


def run_probe(
    work: Path,
    baseline: str = "30s",
    quiet_s: float = 60.0,
    spin_s: float = 60.0,
    hog: bool = False,
    detect_within_s: float = 60.0,
    config: Path | None = None,
    start_within_s: float = 180.0,
) -> dict[str, Any]:
    """One run; every wait bounded.  Returns the figures (see the module docstring)."""
    from h7.cal import keygen

    work.mkdir(parents=True, exist_ok=True)
    keygen(work / "keys")
    pub = work / "keys" / "h7.pub"
    agent = subprocess.Popen(
        [sys.executable, str(AGENT), "--spin-s", str(spin_s), "--life-s", "900"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert agent.stdout is not None
    assert agent.stdout.readline().strip() == "ready"
    cmd = [
        sys.executable, "-m", "h7", "attach", str(agent.pid), "--baseline", baseline,
        "--key", str(work / "keys" / "h7.key"), "--cal-dir", str(work / "cal"),
        "--sink", str(work / "none.sock"), "--spool-dir", str(work / "spool"),
        "--status-file", str(work / "status.json"),
    ]  # fmt: skip
    if config is not None:
        cmd += ["--config", str(config)]
    log = open(work / "sensor.log", "w")  # noqa: SIM115 -- closed in finally
    sensor = subprocess.Popen(cmd, stderr=log, start_new_session=True)
    hog_p: subprocess.Popen[bytes] | None = None
    res: dict[str, Any] = {"baseline": baseline, "quiet_s": quiet_s, "hog": hog}
    try:
        deadline = time.monotonic() + start_within_s
        while time.monotonic() < deadline and "baseline complete" not in (work / "sensor.log").read_text():
            if sensor.poll() is not None:
                raise RuntimeError("sensor exited: " + (work / "sensor.log").read_text()[-2000:])
            time.sleep(0.2)
        else:
            if "baseline complete" not in (work / "sensor.log").read_text():
                raise RuntimeError(
                    f"no baseline in {start_within_s:.0f} s: " + (work / "sensor.log").read_text()[-2000:]
                )
        if hog:
            hog_p = subprocess.Popen(
                [sys.executable, "-c", "import time\nt=time.monotonic()\nwhile time.monotonic()-t<900: pass"]
            )
        peak = {"jsd": 0.0, "cpu": 0.0}
        t_end = time.monotonic() + quiet_s
        while time.monotonic() < t_end:
            time.sleep(0.5)
            for m, w in (_l1_window(_status(work / "status.json")).get("window") or {}).items():
                if isinstance(w, dict) and w.get("h"):
                    peak[m] = max(peak.get(m, 0.0), float(w.get("peak", 0.0)) / float(w["h"]))
        if hog_p is not None:
            hog_p.kill()
            hog_p.wait()
            hog_p = None
        quiet = _l1_certs(work / "cal", pub)
        res["false_alerts"] = len(quiet)
        res["false_alert_evidence"] = [q.get("evidence", {}).get("metric") for q in quiet]
        res["quiet_window_peak_of_h"] = {k: round(v, 3) for k, v in peak.items()}
        os.kill(agent.pid, signal.SIGUSR1)
        t0 = time.monotonic()
        latency = None
        while time.monotonic() - t0 < detect_within_s:
            new = _l1_certs(work / "cal", pub)[len(quiet) :]
            if new:
                latency = time.monotonic() - t0
                ev = new[0].get("evidence", {})
                res["detected"] = {
                    "metric": ev.get("metric"),
                    "window": ev.get("window"),
                    "divergence": new[0].get("divergence"),
                    "cpu_times_baseline": ev.get("cpu_times_baseline"),
                }
                break
            time.sleep(0.1)
        res["latency_s"] = None if latency is None else round(latency, 2)
        if latency is None:  # why not: L1's state at the end (calibrations, windows, last batch)
            res["l1_status_at_end"] = _l1_window(_status(work / "status.json"))
    finally:
        for p in (hog_p, agent):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        if sensor.poll() is None:
            sensor.terminate()
            try:
                sensor.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sensor.kill()
                sensor.wait()
        log.close()
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/h7-spin-probe"))
    ap.add_argument("--baseline", default="30s")
    ap.add_argument("--quiet-s", type=float, default=60.0)
    ap.add_argument("--spin-s", type=float, default=60.0)
    ap.add_argument("--hog", action="store_true")
    ap.add_argument("--config", type=Path, default=None, help="h7 TOML config for the sensor")
    a = ap.parse_args()
    import shutil

    shutil.rmtree(a.work, ignore_errors=True)
    print(json.dumps(run_probe(a.work, a.baseline, a.quiet_s, a.spin_s, a.hog, config=a.config)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
