#!/usr/bin/env python3
"""Does numpy compute correctly (and survive) on this CPU?  A probe for emulated vmtest guests.

    numpy_probe.py expect OUT.json            # on a trusted CPU: record the digests
    numpy_probe.py check EXPECT.json SECONDS  # in a guest: loop, compare, report as JSON

Why: the sensor died with SIGSEGV inside numpy's ``_multiarray_umath`` in the emulated (QEMU TCG)
7.3 guests and never on the host.  This separates "H7's code hands numpy a bad buffer" from "the
emulated CPU runs numpy's SIMD loops wrongly": it runs, with no H7 code at all, the numpy
operations the detection core leans on (sort/argsort/unique, fancy indexing, ufunc.at, bincount,
hashing-style uint64 arithmetic, float reductions) on fixed seeded data, and compares every result
byte for byte (SHA-256 of the bytes, computed outside numpy) with digests recorded on a trusted CPU.
Several worker processes run at once so the guest kernel context-switches them mid-loop, as it does
the sensor.  Run it with and without ``NPY_DISABLE_CPU_FEATURES`` to compare numpy's dispatch targets.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

N = 200_000


def _data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20261201)
    return {
        "u64": rng.integers(0, 2**63, N, dtype=np.uint64),
        "i64": rng.integers(-(2**40), 2**40, N, dtype=np.int64),
        "u32": rng.integers(0, 2**31, N, dtype=np.uint32),
        "f64": rng.standard_normal(N),
        "small": rng.integers(0, 512, N, dtype=np.int64),
        "idx": rng.integers(0, N, N, dtype=np.intp),
    }


def _ops(d: dict[str, np.ndarray]) -> dict[str, Callable[[], np.ndarray]]:
    m1 = np.uint64(0xFF51AFD7ED558CCD)
    s33 = np.uint64(33)

    def fmix() -> np.ndarray:
        with np.errstate(over="ignore"):
            h = d["u64"] ^ (d["u64"] >> s33)
            h = h * m1
            return h ^ (h >> s33)

    def ufunc_at() -> np.ndarray:
        w = np.zeros(1 << 15, np.uint64)
        np.bitwise_or.at(
            w, (d["u64"] >> np.uint64(49)).astype(np.intp), np.uint64(1) << (d["u64"] & np.uint64(63))
        )
        return w

    def add_at() -> np.ndarray:
        w = np.zeros(512, np.float64)
        np.add.at(w, d["small"], d["f64"])
        return w

    return {
        "sort_u64": lambda: np.sort(d["u64"]),
        "sort_i64": lambda: np.sort(d["i64"]),
        "sort_u32": lambda: np.sort(d["u32"]),
        "sort_f64": lambda: np.sort(d["f64"]),
        "argsort_u64": lambda: np.argsort(d["u64"], kind="quicksort"),
        "argsort_i64": lambda: np.argsort(d["i64"], kind="quicksort"),
        "argsort_f64": lambda: np.argsort(d["f64"], kind="quicksort"),
        "argsort_stable": lambda: np.argsort(d["small"], kind="stable"),
        "partition_u64": lambda: np.partition(d["u64"], N // 2)[N // 2 : N // 2 + 1],
        "unique_small": lambda: np.concatenate(np.unique(d["small"], return_counts=True)),
        "unique_u64": lambda: np.unique(d["u64"] >> np.uint64(40)),
        "take": lambda: d["u64"][d["idx"]],
        "take_f64": lambda: d["f64"][d["idx"]],
        "bool_mask": lambda: d["i64"][d["i64"] > 0],
        "bincount": lambda: np.bincount(d["small"], minlength=512),
        "searchsorted": lambda: np.searchsorted(np.sort(d["u32"]), d["u32"][:5000]),
        "fmix64": fmix,
        "ufunc_at_or": ufunc_at,
        "ufunc_at_add": add_at,
        "log_exp": lambda: np.round(np.log1p(np.abs(d["f64"])) * np.exp(-np.abs(d["f64"])), 9),
        "cumsum": lambda: np.cumsum(d["i64"]),
        "minmax": lambda: np.array([d["i64"].min(), d["i64"].max(), d["u64"].max(), d["u32"].min()]),
    }


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def expect(out: str) -> int:
    d = _data()
    digests = {k: _digest(f()) for k, f in _ops(d).items()}
    with open(out, "w") as fh:
        json.dump({"numpy": np.__version__, "digests": digests}, fh, indent=1)
    return 0


def worker(path: str, seconds: float) -> int:
    """One process: loop over every op until the deadline; print counts as JSON."""
    with open(path) as fh:
        want = json.load(fh)["digests"]
    d = _data()
    ops = _ops(d)
    bad: dict[str, int] = {}
    rounds = 0
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end and rounds < 100_000:
        for k, f in ops.items():
            if _digest(f()) != want[k]:
                bad[k] = bad.get(k, 0) + 1
        rounds += 1
    print(json.dumps({"rounds": rounds, "bad": bad}))
    return 0


def check(path: str, seconds: float, procs: int = 3) -> int:
    """Several workers at once (more than the guest's vCPUs: context switches mid-loop)."""
    feats = {}
    try:
        from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__

        feats = {
            "baseline": list(__cpu_baseline__),
            "enabled": [f for f in __cpu_dispatch__ if __cpu_features__.get(f)],
        }
    except ImportError:
        pass
    # The smallest inputs that go wrong, checked against Python's own sort (no numpy in the check).
    rng = np.random.default_rng(5)
    wrong_sizes: dict[str, list[int]] = {}
    for dt in ("int64", "uint64", "float64", "int32", "float32"):
        for n in (4, 8, 16, 32, 64, 128, 256, 1024, 4096):
            a = (
                (rng.standard_normal(n) * 1e6).astype(dt)
                if "float" in dt
                else rng.integers(0, 2**30, n).astype(dt)
            )
            order = np.argsort(a, kind="quicksort").tolist()
            vals = a.tolist()
            if sorted(order) != list(range(n)) or [vals[i] for i in order] != sorted(vals):
                wrong_sizes.setdefault(dt, []).append(n)
    t0 = time.monotonic()
    ps = [
        subprocess.Popen(
            [sys.executable, __file__, "worker", path, str(seconds)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(procs)
    ]
    res: list[dict[str, Any]] = []
    for p in ps:
        out, _ = p.communicate(timeout=seconds + 600)
        r: dict[str, Any] = {"rc": p.returncode}
        with contextlib.suppress(ValueError, IndexError):
            r.update(json.loads(out.strip().splitlines()[-1]))
        res.append(r)
    summary = {
        "npy_disable": os.environ.get("NPY_DISABLE_CPU_FEATURES", ""),
        "numpy": np.__version__,
        "features": feats,
        "argsort_wrong_sizes": wrong_sizes,
        "seconds": round(time.monotonic() - t0, 1),
        "workers": res,
        "crashed": sum(1 for r in res if r["rc"] != 0),
        "rounds": sum(int(r.get("rounds", 0)) for r in res),
        "mismatches": sum(sum(r.get("bad", {}).values()) for r in res),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "expect" and len(sys.argv) == 3:
        sys.exit(expect(sys.argv[2]))
    if cmd == "worker" and len(sys.argv) == 4:
        sys.exit(worker(sys.argv[2], float(sys.argv[3])))
    if cmd == "check" and len(sys.argv) == 4:
        sys.exit(check(sys.argv[2], float(sys.argv[3])))
    print(__doc__.strip().splitlines()[2], file=sys.stderr)
    sys.exit(2)
