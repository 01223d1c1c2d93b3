"""What H7 costs the machine: monitored and unmonitored workloads, footprint, start-up, kernel time.

Method (these 2-core machines are noisy, so nothing is compared across runs):

* every figure is a ratio of runs made in the same process, *with* and
  *without* a running ``h7 attach`` in full monitoring mode (all five
  channels, baseline done), interleaved round by round in ABBA order so a
  drift in machine load hits both sides equally;
* the ratio is taken per round (with/without of the same round) and the
  median over rounds reported, with the spread (max-min)/median of those
  per-round ratios, so a reader can see whether a 2 % difference is signal;
* each "with" round starts a fresh ``h7 attach`` that loads the baseline
  learned in the first session (``--baseline-from``): the sensor is in
  monitoring from its first batch, and attach time, RSS and CPU are
  sampled from every session.

Workloads: redis-benchmark against a private redis-server on 127.0.0.1
(no persistence), H7 attached to redis-server; and bench/workload.py, a
fork/exec/open/connect loop, once monitored and once as a process H7 does
not watch while it watches another.  Kernel-side cost comes from
``bpftool prog show`` run_time_ns/run_cnt in a separate session with
kernel.bpf_stats_enabled=1 (the stats add two clock reads per program run,
so they are kept out of the timed rounds).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import (
    PY,
    BenchError,
    H7Env,
    H7Session,
    Procs,
    bpf_prog_stats,
    bpf_stats_enabled,
    median,
    proc_cpu_s,
    proc_rss_mb,
    spread,
    wait_for,
)

REDIS_TESTS = "set,get"


class Redis:
    """A private redis-server on 127.0.0.1 (no RDB, no AOF) and the redis-benchmark client."""

    def __init__(self, procs: Procs, workdir: Path) -> None:
        for tool in ("redis-server", "redis-benchmark"):
            if shutil.which(tool) is None:
                raise BenchError(f"{tool} not installed (apt-get install redis-server redis-tools)")
        with contextlib.closing(__import__("socket").socket()) as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.proc = procs.spawn(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(workdir),
                "--protected-mode", "yes", "--logfile", str(workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self.ping, 10, "redis-server to answer", self.proc)

    def ping(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as c:
                c.sendall(b"PING\r\n")
                return c.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def bench(self, n: int, timeout: float = 120.0) -> float:
        """Run redis-benchmark over REDIS_TESTS; returns overall requests/s (total requests / total time)."""
        out = subprocess.run(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", str(self.port), "-n", str(n), "-c", "50",
             "-t", REDIS_TESTS, "--csv", "-q"],
            capture_output=True, text=True, timeout=timeout, check=True,
        )  # fmt: skip
        total_s = 0.0
        tests = 0
        for line in out.stdout.splitlines():
            cells = [c.strip('"') for c in line.split(",")]
            if len(cells) >= 2 and cells[0] != "test":
                total_s += n / float(cells[1])
                tests += 1
        if tests == 0:
            raise BenchError(f"redis-benchmark printed no results: {out.stdout!r} {out.stderr!r}")
        return tests * n / total_s


class Workload:
    """bench/workload.py running as a server: one `go SECONDS` per measurement."""

    def __init__(self, procs: Procs, name: str) -> None:
        self.name = name
        self.proc = procs.spawn(
            [PY, "-m", "bench.workload"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise BenchError(f"workload {name} did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self, seconds: float) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"go {seconds}\n")
        self.proc.stdin.flush()

    def result(self) -> float:
        """Iterations per second of the last `go`."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2:
            raise BenchError(f"workload {self.name} died (rc {self.proc.poll()})")
        return int(line[0]) / float(line[1])

    def run(self, seconds: float) -> float:
        self.start(seconds)
        return self.result()


class Figures:
    """Per-session footprint samples, reduced to medians/maxima at the end."""

    def __init__(self) -> None:
        self.attach_ms: list[float] = []
        self.attach_wall_ms: list[float] = []
        self.rss_mb: list[float] = []
        self.busy_cpu_pct: list[float] = []

    def session(self, s: H7Session) -> None:
        self.attach_ms.append(s.attached_ms)
        self.attach_wall_ms.append(s.attached_wall_ms)
        self.rss_mb.append(proc_rss_mb(s.pid))


def _order(r: int) -> tuple[bool, bool]:
    """ABBA: even rounds run without H7 first, odd rounds with H7 first."""
    return (False, True) if r % 2 == 0 else (True, False)


def redis_overhead(
    procs: Procs, env: H7Env, redis: Redis, base: Path, rounds: int, target_s: float, fig: Figures
) -> dict[str, float]:
    # size the run from a short calibration so each run takes ~target_s
    rps0 = redis.bench(5_000)
    n = max(5_000, int(rps0 * target_s / len(REDIS_TESTS.split(","))))
    # first session learns the baseline while redis serves a benchmark load, then saves it
    s = H7Session(procs, env, [redis.proc.pid], baseline="2s", save_baseline=base, tag="redis-baseline")
    try:
        wait_for(lambda: s._attached.is_set(), 30, "h7 attach (redis baseline)", s.proc)
        end = time.monotonic() + 15
        while s.status().get("engine", {}).get("phase") != "monitoring" and time.monotonic() < end:
            redis.bench(2_000)
        s.wait_monitoring()
        fig.session(s)
    finally:
        s.stop()
    on: list[float] = []
    off: list[float] = []
    ratios: list[float] = []
    alerts = 0
    for r in range(rounds):
        got: dict[bool, float] = {}
        for with_h7 in _order(r):
            if not with_h7:
                got[False] = redis.bench(n)
                continue
            s = H7Session(procs, env, [redis.proc.pid], baseline_from=base, tag=f"redis-{r}")
            try:
                s.wait_monitoring()
                c0, t0 = proc_cpu_s(s.pid), time.monotonic()
                got[True] = redis.bench(n)
                fig.busy_cpu_pct.append(100 * (proc_cpu_s(s.pid) - c0) / (time.monotonic() - t0))
                fig.session(s)
                alerts += int(s.status().get("alerts", 0))
            finally:
                s.stop()
        on.append(got[True])
        off.append(got[False])
        ratios.append(got[True] / got[False])
    return {
        "redis_rps_without": median(off),
        "redis_rps_with": median(on),
        "redis_throughput_ratio": median(ratios),
        "redis_throughput_ratio_spread": spread(ratios),
        "redis_slowdown_pct": 100 * (1 - median(ratios)),
        "redis_rounds": float(rounds),
        "redis_requests_per_test": float(n),
        "redis_alerts_during_runs": float(alerts),
    }


def micro_overhead(
    procs: Procs, env: H7Env, rounds: int, seconds: float, idle_s: float, fig: Figures
) -> dict[str, float]:
    mon = Workload(procs, "monitored")
    unmon = Workload(procs, "unmonitored")
    base = env.root / "micro.baseline"
    res: dict[str, float] = {}
    # baseline session: learn while the monitored workload runs, then measure idle CPU
    s = H7Session(procs, env, [mon.pid], baseline="2s", save_baseline=base, tag="micro-baseline")
    try:
        wait_for(lambda: s._attached.is_set(), 30, "h7 attach (micro baseline)", s.proc)
        end = time.monotonic() + 15
        while s.status().get("engine", {}).get("phase") != "monitoring" and time.monotonic() < end:
            mon.run(1.0)
        s.wait_monitoring()
        fig.session(s)
        time.sleep(1.5)  # let the last busy batch close and its status be written
        c0, t0 = proc_cpu_s(s.pid), time.monotonic()
        time.sleep(idle_s)
        res["idle_cpu_pct"] = 100 * (proc_cpu_s(s.pid) - c0) / (time.monotonic() - t0)
        res["idle_cpu_window_s"] = idle_s
        res["rss_idle_mb"] = proc_rss_mb(s.pid)
    finally:
        s.stop()
    r_mon: list[float] = []
    r_unmon: list[float] = []
    rates: dict[str, list[float]] = {"mon_on": [], "mon_off": [], "unmon_on": [], "unmon_off": []}
    for r in range(rounds):
        got: dict[str, float] = {}
        for with_h7 in _order(r):
            tag = "on" if with_h7 else "off"
            s2: H7Session | None = None
            try:
                if with_h7:
                    s2 = H7Session(procs, env, [mon.pid], baseline_from=base, tag=f"micro-{r}")
                    s2.wait_monitoring()
                got[f"mon_{tag}"] = mon.run(seconds)
                got[f"unmon_{tag}"] = unmon.run(seconds)
                if s2 is not None:
                    fig.session(s2)
            finally:
                if s2 is not None:
                    s2.stop()
        for k, v in got.items():
            rates[k].append(v)
        r_mon.append(got["mon_on"] / got["mon_off"])
        r_unmon.append(got["unmon_on"] / got["unmon_off"])
    res.update(
        {
            "micro_monitored_iter_per_s_without": median(rates["mon_off"]),
            "micro_monitored_iter_per_s_with": median(rates["mon_on"]),
            "micro_monitored_ratio": median(r_mon),
            "micro_monitored_ratio_spread": spread(r_mon),
            "micro_monitored_slowdown_pct": 100 * (1 - median(r_mon)),
            "micro_unmonitored_iter_per_s_without": median(rates["unmon_off"]),
            "micro_unmonitored_iter_per_s_with": median(rates["unmon_on"]),
            "micro_unmonitored_ratio": median(r_unmon),
            "micro_unmonitored_ratio_spread": spread(r_unmon),
            "micro_unmonitored_slowdown_pct": 100 * (1 - median(r_unmon)),
            "micro_rounds": float(rounds),
        }
    )
    return res


def kernel_cost(procs: Procs, env: H7Env, redis: Redis, base: Path, seconds: float) -> dict[str, float]:
    """ns per program run with bpf_stats on: H7 watching redis under load, then an unwatched workload."""
    unmon = Workload(procs, "unmonitored-bpfstats")
    res: dict[str, float] = {}
    with bpf_stats_enabled():
        s = H7Session(procs, env, [redis.proc.pid], baseline_from=base, tag="bpfstats")
        try:
            s.wait_monitoring()
            before = bpf_prog_stats(s.pid)
            t0 = time.monotonic()
            rps = redis.bench(max(10_000, int(redis.bench(5_000) * seconds / 5)))
            wall = time.monotonic() - t0
            mid = bpf_prog_stats(s.pid)
            t1 = time.monotonic()
            unmon.run(seconds)
            wall_u = time.monotonic() - t1
            after = bpf_prog_stats(s.pid)
        finally:
            s.stop()
    if not mid:
        raise BenchError("bpftool listed no programs held by the h7 attach process")
    tot_ns = 0
    for name, (t, c) in sorted(mid.items()):
        dt, dc = t - before.get(name, (0, 0))[0], c - before.get(name, (0, 0))[1]
        tot_ns += dt
        if dc:
            res[f"bpf_ns_per_run_{name}"] = dt / dc
            res[f"bpf_runs_per_s_{name}"] = dc / wall
    res["bpf_cpu_pct_redis"] = 100 * tot_ns / (wall * 1e9)
    res["bpf_ns_per_redis_request"] = tot_ns / (rps * wall) if rps else float("nan")
    tot_u = 0
    for name, (t, c) in sorted(after.items()):
        dt, dc = t - mid.get(name, (0, 0))[0], c - mid.get(name, (0, 0))[1]
        tot_u += dt
        if dc:
            res[f"bpf_unmon_ns_per_run_{name}"] = dt / dc
    res["bpf_cpu_pct_unmonitored_micro"] = 100 * tot_u / (wall_u * 1e9)
    return res


def run(quick: bool = False) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="h7-bench-overhead-"))
    fig = Figures()
    res: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        with Procs() as procs:
            env = H7Env(work / "h7")
            redis = Redis(procs, work)
            base = env.root / "redis.baseline"
            res.update(
                redis_overhead(
                    procs, env, redis, base, rounds=2 if quick else 6, target_s=1.0 if quick else 2.0, fig=fig
                )
            )
            print(f"[overhead] redis done at {time.monotonic() - t0:.0f} s", file=sys.stderr)
            res.update(micro_overhead(procs, env, rounds=2 if quick else 5, seconds=1.0 if quick else 2.5,
                                      idle_s=4.0 if quick else 10.0, fig=fig))  # fmt: skip
            print(f"[overhead] micro done at {time.monotonic() - t0:.0f} s", file=sys.stderr)
            try:
                res.update(kernel_cost(procs, env, redis, base, seconds=1.0 if quick else 2.0))
            except (BenchError, subprocess.SubprocessError, OSError) as e:
                print(f"[overhead] kernel-side cost not measured: {e}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res["attach_ms"] = median(fig.attach_ms)
    res["attach_ms_max"] = max(fig.attach_ms)
    res["attach_wall_ms"] = median(fig.attach_wall_ms)
    res["attach_wall_ms_max"] = max(fig.attach_wall_ms)
    res["rss_mb"] = max(fig.rss_mb)
    res["rss_mb_median"] = median(fig.rss_mb)
    if fig.busy_cpu_pct:
        res["sensor_cpu_pct_under_redis"] = median(fig.busy_cpu_pct)
    return res


def _main() -> None:
    quick = "--quick" in sys.argv
    for k, v in sorted(run(quick).items()):
        print(f"{k:48} {v:14.3f}")


if __name__ == "__main__":
    _main()
