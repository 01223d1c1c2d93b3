"""What the egress and tampering hooks of issue 13 add per operation, and to whom.

The new hooks sit on the operations they watch, not on every syscall:
cgroup/connect4|6 and sendmsg4|6 (tracepoint mode) or fentry on
inet_stream_connect/inet_dgram_connect/inet_sendmsg (fentry mode), and the
/proc/<pid>/mem|maps check on opens in sys_enter.  This section measures,
interleaved round by round, the mean wall-clock ns of three operations
(bench/net_loop.c) in a process H7 watches and in one it does not:

* ``udp``: one addressed 16-byte UDP sendto (the cgroup sendmsg4 / inet_sendmsg path);
* ``connect``: a loopback TCP connect + accept + close (connect4 / inet_stream_connect);
* ``open``: open + close of /proc/self/stat (every open now passes the /proc check);

under three set-ups: nothing loaded (``base``), H7 with sys_enter only
(``H7_HOOK_MODE=syscall``: what H7 cost before these hooks), and H7 as it
runs by default on this kernel (``auto``: cgroup hooks here, fentry where it
loads).  Figures: ns added over base, median over rounds; ``new_hooks`` is
auto minus syscall, i.e. what the gap hooks themselves cost.

Wall clock on a shared 2-core machine is noisy (other work runs between the
loops), so the section also reads the kernel's own accounting
(kernel.bpf_stats_enabled, run_time_ns/run_cnt per program) in the auto
set-up: ``net_prog_ns_per_op_{op}_{who}`` is the time all of H7's programs
spent per operation of that process (gap hooks and sys_enter together), and
``net_prog_ns_per_run_{program}`` each program's mean ns per run over the
whole run (for sys_enter: mostly other processes' syscalls, i.e. the
unmonitored per-syscall cost, compared with the syscall-only set-up as
``net_sys_enter_ns_per_run_{syscall,auto}``).  ``net_hook_{program}_{op}_{who}_ns_per_run``
is one hook's mean ns per run while that process did that operation (the
hook ran at least once per operation): the price of the scope check alone
for an unmonitored process, and of the full report for a monitored one.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from bench.harness import DrainingSensor, LineProcess, bpf_stats_enabled, built, median

OPS = ("udp", "connect", "open")


class Loop(LineProcess):
    """bench/net_loop.c: n operations of one kind per request, answers the mean ns per operation."""

    def __init__(self) -> None:
        super().__init__([str(built("net_loop"))], "net_loop", ready="ready")

    def ns(self, op: str, n: int) -> float:
        return self.ask(f"{op} {n}")


HOOK_PREFIXES = ("h7_cg_", "h7_fe_", "h7_sys_enter")


def _measure(
    loops: dict[str, Loop],
    counts: dict[str, int],
    sensor: Any = None,
    per_op: dict[str, list[float]] | None = None,
) -> dict[str, float]:
    out: dict[str, float] = {}
    for op in OPS:
        for who, loop in loops.items():
            before = sensor.program_stats() if sensor is not None else {}
            out[f"{op}_{who}"] = loop.ns(op, counts[op])
            if sensor is not None and per_op is not None:
                after = sensor.program_stats()
                spent = sum(after[k][0] - before.get(k, (0, 0))[0] for k in after)
                per_op.setdefault(f"{op}_{who}", []).append(spent / counts[op])
                for k, (t, c) in after.items():
                    dt, dc = t - before.get(k, (0, 0))[0], c - before.get(k, (0, 0))[1]
                    if k.startswith(HOOK_PREFIXES) and dc >= counts[op] // 2:  # runs this op caused
                        per_op.setdefault(f"hook_{k}_{op}_{who}", []).append(dt / dc)
    return out


def _per_run(sensor: Any, into: dict[str, list[float]]) -> None:
    for name, (t, c) in sensor.program_stats().items():
        if c:
            into.setdefault(name, []).append(t / c)


def run(quick: bool = False) -> dict[str, float]:
    from h7.sensor.sensor import Sensor, SensorConfig

    rounds = 3 if quick else 5
    counts = {
        "udp": 20_000 if quick else 100_000,
        "connect": 500 if quick else 2_000,
        "open": 20_000 if quick else 100_000,
    }
    loops = {"monitored": Loop(), "unmonitored": Loop()}
    raw: dict[str, dict[str, list[float]]] = {m: {} for m in ("base", "syscall", "auto")}
    per_op: dict[str, list[float]] = {}
    per_run: dict[str, dict[str, list[float]]] = {"syscall": {}, "auto": {}}
    modes: dict[str, str] = {}
    try:
        with bpf_stats_enabled():
            for r in range(rounds):
                for setup in ("base", "syscall", "auto"):
                    if setup == "base":
                        got = _measure(loops, counts)
                    else:
                        with Sensor(SensorConfig(hook_mode=setup)) as s:
                            s.add_agent(loops["monitored"].p.pid)
                            if setup == "auto":
                                modes = {k: v["mode"] for k, v in s.gap_modes.items()}
                            run_ = DrainingSensor(s)
                            try:
                                got = _measure(loops, counts, s, per_op if setup == "auto" else None)
                            finally:
                                run_.stop()
                            _per_run(s, per_run[setup])
                    for k, ns in got.items():
                        raw[setup].setdefault(k, []).append(ns)
                print(
                    f"[net_cost] round {r}: "
                    + ", ".join(f"{k} {raw['auto'][k][-1] - raw['base'][k][-1]:+.0f}" for k in raw["base"]),
                    file=sys.stderr,
                )
    finally:
        for loop in loops.values():
            loop.close()
    res: dict[str, float] = {"net_rounds": float(rounds)}
    for k in raw["base"]:
        base = median(raw["base"][k])
        res[f"net_ns_base_{k}"] = base
        sysc = median([a - b for a, b in zip(raw["syscall"][k], raw["base"][k], strict=True)])
        auto = median([a - b for a, b in zip(raw["auto"][k], raw["base"][k], strict=True)])
        res[f"net_ns_added_syscall_{k}"] = sysc
        res[f"net_ns_added_auto_{k}"] = auto
        res[f"net_ns_new_hooks_{k}"] = median(
            [a - s for a, s in zip(raw["auto"][k], raw["syscall"][k], strict=True)]
        )
    for k, v in per_op.items():
        if k.startswith("hook_"):
            res[f"net_{k}_ns_per_run"] = median(v)
        else:
            res[f"net_prog_ns_per_op_{k}"] = median(v)
    for name, v in per_run["auto"].items():
        res[f"net_prog_ns_per_run_{name}"] = median(v)
    for setup in ("syscall", "auto"):
        if "h7_sys_enter" in per_run[setup]:
            res[f"net_sys_enter_ns_per_run_{setup}"] = median(per_run[setup]["h7_sys_enter"])
    res["net_egress_mode_fentry"] = float(modes.get("egress") == "fentry")
    return res


def _main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("bench.net_cost: needs root")
    for k, v in sorted(run("--quick" in sys.argv).items()):
        print(f"{k:48} {v:14.3f}")


if __name__ == "__main__":
    _main()
