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
* ``unmonitored``: H7 loaded, the loop is a process H7 does not watch;
* ``known``: H7 watching the loop, after its baseline (its windows known:
  counted in the kernel, not shipped);
* ``shipped``: H7 watching the loop with every syscall shipped (what a
  baseline costs, and what every syscall cost before windows moved into the
  kernel).

Figures are added ns per syscall (median over rounds of with - base).
"""

from __future__ import annotations

import sys

import numpy as np

from bench.harness import DrainingSensor, LineProcess, built, median, spread


class Loop(LineProcess):
    """bench/syscall_loop.c: n getppid(2) per request, answers the mean ns per call."""

    def __init__(self) -> None:
        super().__init__([str(built("syscall_loop"))], "syscall_loop", ready="ready")

    def ns(self, n: int) -> float:
        return self.ask(f"go {n}")


def run(quick: bool = False) -> dict[str, float]:
    from h7.sensor.libbpf import BpfObject
    from h7.sensor.sensor import Sensor

    null_elf = built("bench_null.bpf.o")
    rounds = 3 if quick else 7
    n = 300_000 if quick else 1_000_000
    mon, unm = Loop(), Loop()
    null = BpfObject(null_elf.read_bytes())
    added: dict[str, list[float]] = {k: [] for k in ("floor", "unmonitored", "known", "shipped")}
    base_ns: list[float] = []
    shipped_frac: list[float] = []
    known_codes: np.ndarray | None = None
    try:
        null.load()
        prog = null.program("bench_null_sys_enter")
        for r in range(rounds):
            b = median([mon.ns(n), unm.ns(n)])
            base_ns.append(b)
            link = prog.attach()
            try:
                added["floor"].append(median([mon.ns(n), unm.ns(n)]) - b)
            finally:
                link.destroy()
            with Sensor() as s:
                info = s.add_agent(mon.pid)
                run_ = DrainingSensor(s, keep=True)
                try:
                    added["unmonitored"].append(unm.ns(n) - b)
                    added["shipped"].append(mon.ns(n) - b)
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
                finally:
                    run_.stop()
                done = [*run_.batches, s.take_batch(0, 1)]
                shipped = sum(int(x.syscalls.size) for x in done)
                issued = sum(int(x.stats[info.agent]["syscalls"]) for x in done if info.agent in x.stats)
                if issued:
                    shipped_frac.append(shipped / issued)
            print(
                f"[syscall_cost] round {r}: base {b:.0f} ns, added "
                + ", ".join(f"{k} {v[-1]:.0f}" for k, v in added.items()),
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
    if shipped_frac:
        res["syscall_known_loop_shipped_fraction"] = median(shipped_frac)
    return res


def _main() -> None:
    for k, v in sorted(run("--quick" in sys.argv).items()):
        print(f"{k:48} {v:14.3f}")


if __name__ == "__main__":
    _main()
