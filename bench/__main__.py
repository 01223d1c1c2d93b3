"""`make bench`: every benchmark in one run, a table on stdout, figures in bench/results/latest.json.

Each section is a module with ``run(quick) -> dict[str, float]``; a section
that is not available (not built yet, not root) is reported, not hidden.  A
section whose figures read better side by side (bench/hook_cost.py) also has
``summary(figures) -> str``, printed after the flat table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

SECTIONS = [
    ("sensor", "bench.sensor_bench"),
    ("sequence", "bench.sequence_bench"),
    ("engine", "bench.engine_bench"),
    ("window", "bench.window_bench"),
    ("observer", "bench.observer_bench"),
    ("cal", "bench.cal_bench"),
    ("sink", "bench.sink_bench"),
    ("pipeline", "bench.pipeline_bench"),
    ("syscall_cost", "bench.syscall_cost"),
    ("hook_cost", "bench.hook_cost"),
    ("overhead", "bench.overhead"),
    ("latency", "bench.latency"),
]

TARGETS = {
    "sensor_drain_decode_records_per_s": (">=", 1_000_000),
    "sensor_sustained_drops": ("<=", 0),
    "syscalls_per_s_monitoring": (">=", 1_000_000),  # detection core, syscall stream, one core
    # issue 8 targets, measured side by side (bench/overhead.py, bench/latency.py, bench/pipeline_bench.py)
    "redis_throughput_ratio": (">=", 0.97),
    "micro_unmonitored_ratio": (">=", 0.99),
    "pipeline_events_per_s": (">=", 1_000_000),
    "max_sustained_syscalls_per_s": (">=", 200_000),
    "alert_latency_p99_ms_L2": ("<=", 50),
    "alert_latency_p99_ms_L4": ("<=", 50),
    "alert_latency_p99_ms_L5": ("<=", 10),
    "alert_latency_p99_ms_L1": ("<=", 1050),
    "alert_latency_p99_ms_L3": ("<=", 1050),
    "alert_sink_latency_p99_ms_L2": ("<=", 50),
    "alert_sink_latency_p99_ms_L4": ("<=", 50),
    "alert_sink_latency_p99_ms_L5": ("<=", 10),
    "alert_sink_latency_p99_ms_L1": ("<=", 1050),
    "alert_sink_latency_p99_ms_L3": ("<=", 1050),
    "rss_mb": ("<=", 80),
    "idle_cpu_pct": ("<=", 1),
    "attach_ms_max": ("<=", 1000),
    "attach_wall_ms": ("<=", 1000),
}


def byte_compile_h7() -> bool:
    """Byte-compile the h7 package before anything is timed, as the .deb's install does (py3compile).

    A source checkout run with PYTHONDONTWRITEBYTECODE=1 (as on these build
    machines) never caches bytecode, so every `h7 attach` the benchmark
    starts would compile ~70 h7 modules from source first: a cost no
    installed sensor pays, which session 6's attach_wall_ms (1,059 ms) still
    carried.  py_compile writes the .pyc files whatever that variable says.
    """
    import compileall

    import h7

    return bool(compileall.compile_dir(str(Path(h7.__file__).resolve().parent), quiet=1))


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench")
    ap.add_argument("--quick", action="store_true", help="reduced run (< 2 minutes)")
    ap.add_argument("--only", action="append", default=[], help="run only these sections")
    args = ap.parse_args()
    results: dict[str, float] = {}
    failures: list[str] = []
    summaries: list[Callable[[dict[str, float]], str]] = []
    results["h7_bytecode_compiled"] = float(byte_compile_h7())
    # A partial run must not replace the full run's figures.
    fname = "latest" if not args.only else f"only-{'-'.join(sorted(args.only))}"
    out = Path(__file__).resolve().parent / "results" / f"{fname}.json"
    # ... but what finished is kept as it finishes: a run stopped on a deadline (or killed by a
    # slow section) still leaves every completed section's figures in NAME.partial.json.
    partial = out.with_name(f"{fname}.partial.json")
    for name, module in SECTIONS:
        if args.only and name not in args.only:
            continue
        t0 = time.monotonic()
        try:
            mod = importlib.import_module(module)
            figures = mod.run(quick=args.quick)
        except ModuleNotFoundError as e:
            failures.append(f"{name}: not available ({e})")
            continue
        except Exception:
            failures.append(f"{name}: failed\n{traceback.format_exc()}")
            continue
        results.update({k: float(v) for k, v in figures.items()})
        head = {"host": platform.node(), "kernel": platform.release(), "_quick": float(args.quick)}
        partial.write_text(json.dumps({**head, **results}, indent=1))
        if hasattr(mod, "summary"):
            summaries.append(mod.summary)
        print(f"[{name}] {time.monotonic() - t0:.1f} s", file=sys.stderr)
    width = max((len(k) for k in results), default=10)
    print(f"{'figure':{width}}  {'value':>16}  target")
    for k, v in sorted(results.items()):
        target = ""
        if k in TARGETS:
            op, lim = TARGETS[k]
            ok = v >= lim if op == ">=" else v <= lim
            target = f"{op} {lim:,}  {'met' if ok else 'MISSED'}"
        print(f"{k:{width}}  {v:16,.2f}  {target}")
    for summary in summaries:
        print(summary(results))
    for f in failures:
        print(f"! {f}")
    results["_quick"] = 1.0 if args.quick else 0.0
    out.write_text(json.dumps({"host": platform.node(), "kernel": platform.release(), **results}, indent=1))
    partial.unlink(missing_ok=True)
    print(f"written {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
