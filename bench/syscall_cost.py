"""What one syscall costs with H7 loaded, split into the hook's floor and H7's own share.

H7 has to see every syscall of a monitored agent, and Linux offers one hook
for that: the sys_enter tracepoint.  Attaching any BPF program to it sends
EVERY syscall of EVERY process through the tracepoint slow path and a BPF
dispatch, before the program can even decide the task is not watched.  This
section measures, in the same run and interleaved round by round, the mean
wall-clock ns of a getppid(2) loop (bench/syscall_loop.c):

* ``base``: nothing attached;
* ``floor``: an empty tp_btf/sys_enter program (bench/null.bpf.c) -- the
  cost any syscall-level sensor pays on this kernel before doing anything;
* ``exit_floor``: the same plus an empty program on the per-syscall
  tracepoint syscalls/sys_exit_openat (bench/null.bpf.c), as H7's open
  exits are attached: what enabling one syscall's exit tracepoint costs
  every OTHER syscall (the raw sys_exit callback that tests the syscall's
  bit), so ``exit_floor - floor`` is that part of the unmonitored cost;
* ``unmonitored``: H7 loaded, the loop is a process H7 does not watch;
* ``known``: H7 watching the loop, after its baseline (its windows known:
  counted in the kernel, not shipped);
* ``shipped``: H7 watching the loop with every syscall shipped (what a
  baseline costs, and what every syscall cost before windows moved into the
  kernel).

Figures are added ns per syscall (median over rounds of with - base), of
the loop's wall clock (``syscall_ns_*``) and of its CPU time
(``syscall_cpu_ns_*``: the syscall and every hook that ran in its context,
not the time it waited for a CPU; the figure to read on a loaded host, where
a wall-clock getppid took 5x its quiet-host time in session 10).
"""

from __future__ import annotations

import sys

import numpy as np

from bench.harness import DrainingSensor, LineProcess, built, median, null_object, spread


class Loop(LineProcess):
    """bench/syscall_loop.c: n getppid(2) per request, answers the mean wall and CPU ns per call."""

    def __init__(self) -> None:
        super().__init__([str(built("syscall_loop"))], "syscall_loop", ready="ready")
        #: the CPU ns per call of each request, in order (the wall figure is returned)
        self.cpu: list[float] = []

    def ns(self, n: int) -> float:
        wall, cpu = self.ask_line(f"go {n}").split()
        self.cpu.append(float(cpu))
        return float(wall)


def _both(n: int, *loops: Loop) -> tuple[float, float]:
    """Median wall and CPU ns per call of one request of ``n`` calls to each loop."""
    wall = median([x.ns(n) for x in loops])
    return wall, median([x.cpu[-1] for x in loops])


def run(quick: bool = False) -> dict[str, float]:
    from h7.sensor.sensor import Sensor

    rounds = 3 if quick else 7
    n = 300_000 if quick else 1_000_000
    mon, unm = Loop(), Loop()
    setups = ("floor", "exit_floor", "unmonitored", "known", "shipped")
    added: dict[str, list[float]] = {k: [] for k in setups}
    cpu_added: dict[str, list[float]] = {k: [] for k in setups}
    cpu_base: list[float] = []
    base_ns: list[float] = []
    shipped_frac: list[float] = []
    known_codes: np.ndarray | None = None
    null = null_object()
    try:
        prog = null.program("bench_null_sys_enter")
        exit_prog = null.program("bench_null_sys_exit_openat")
        for r in range(rounds):
            b, bc = _both(n, mon, unm)
            base_ns.append(b)
            cpu_base.append(bc)
            link = prog.attach()
            try:
                # floor and exit_floor alternate their order by round (a drift hits both alike)
                for setup in ("floor", "exit_floor") if r % 2 == 0 else ("exit_floor", "floor"):
                    exit_link = exit_prog.attach() if setup == "exit_floor" else None
                    try:
                        w, c = _both(n, mon, unm)
                        added[setup].append(w - b)
                        cpu_added[setup].append(c - bc)
                    finally:
                        if exit_link is not None:
                            exit_link.destroy()
            finally:
                link.destroy()
            with Sensor() as s:
                info = s.add_agent(mon.pid)
                run_ = DrainingSensor(s, keep=True)
                try:
                    added["unmonitored"].append(unm.ns(n) - b)
                    cpu_added["unmonitored"].append(unm.cpu[-1] - bc)
                    added["shipped"].append(mon.ns(n) - b)
                    cpu_added["shipped"].append(mon.cpu[-1] - bc)
                finally:
                    run_.stop()
                if known_codes is None:
                    # the loop's own windows, as its baseline would have learnt them
                    got = [x.syscalls["window"] for x in run_.batches]
                    got.append(s.take_batch(0, 1).syscalls["window"])
                    known_codes = np.unique(np.concatenate(got))
                s.take_batch(0, 1)
                s.set_sequence_filter(info.agent, known_codes)
                run_ = DrainingSensor(s, keep=True)
                try:
                    added["known"].append(mon.ns(n) - b)
                    cpu_added["known"].append(mon.cpu[-1] - bc)
                finally:
                    run_.stop()
                done = [*run_.batches, s.take_batch(0, 1)]
                shipped = sum(int(x.syscalls.size) for x in done)
                issued = sum(int(x.stats[info.agent]["syscalls"]) for x in done if info.agent in x.stats)
                if issued:
                    shipped_frac.append(shipped / issued)
            print(
                f"[syscall_cost] round {r}: base {b:.0f} ns (CPU {bc:.0f}), added wall/CPU "
                + ", ".join(f"{k} {v[-1]:.0f}/{cpu_added[k][-1]:.0f}" for k, v in added.items()),
                file=sys.stderr,
            )
    finally:
        null.close()
        mon.close()
        unm.close()
    res: dict[str, float] = {"syscall_ns_base": median(base_ns), "syscall_rounds": float(rounds)}
    for k, v in added.items():
        res[f"syscall_ns_added_{k}"] = median(v)
        res[f"syscall_ns_added_{k}_spread"] = spread([x + res["syscall_ns_base"] for x in v])
    res["syscall_h7_share_unmonitored_ns"] = (
        res["syscall_ns_added_unmonitored"] - res["syscall_ns_added_floor"]
    )
    res["syscall_h7_share_known_ns"] = res["syscall_ns_added_known"] - res["syscall_ns_added_floor"]
    # per round, so the two set-ups' common drift cancels
    res["syscall_exit_tp_ns"] = median(
        [e - f for e, f in zip(added["exit_floor"], added["floor"], strict=True)]
    )
    res["syscall_cpu_ns_base"] = median(cpu_base)
    for k, v in cpu_added.items():
        res[f"syscall_cpu_ns_added_{k}"] = median(v)
        res[f"syscall_cpu_ns_added_{k}_spread"] = spread([x + res["syscall_cpu_ns_base"] for x in v])
    res["syscall_cpu_h7_share_unmonitored_ns"] = (
        res["syscall_cpu_ns_added_unmonitored"] - res["syscall_cpu_ns_added_floor"]
    )
    res["syscall_cpu_exit_tp_ns"] = median(
        [e - f for e, f in zip(cpu_added["exit_floor"], cpu_added["floor"], strict=True)]
    )
    if shipped_frac:
        res["syscall_known_loop_shipped_fraction"] = median(shipped_frac)
    return res


def _main() -> None:
    for k, v in sorted(run("--quick" in sys.argv).items()):
        print(f"{k:48} {v:14.3f}")


if __name__ == "__main__":
    _main()
