"""Does numpy's SIMD dispatch compute correctly on this CPU?  (`h7 doctor`, fact ``numpy_simd``.)

The detection core is numpy.  On a real CPU its SIMD loops are as correct as its scalar ones, but
an emulated CPU can get them wrong: under QEMU 7.2's software emulation (TCG, the vmtest guests)
numpy's AVX2 ``argsort`` returned wrong orders on every call (vmtest/numpy_probe.py), and the
sensor, whose L1 and L3 channels argsort every batch, died with SIGSEGV inside numpy.  Wrong
results without a crash would be worse: silently wrong detection.  So the doctor runs a small
argsort in a child process (a crash there is an answer too, not the doctor's death) and compares it
with a pure-Python sort; the fix, when it fails, is ``NPY_DISABLE_CPU_FEATURES`` for the listed
dispatch targets, read by numpy at import.
"""

from __future__ import annotations

import os
import subprocess
import sys

#: run in the child: argsort (quicksort kind = numpy's SIMD sort where the CPU has one) of int64 and
#: float64 data, checked against Python's sorted(); prints the enabled dispatch targets
_CHILD = r"""
import sys
import numpy as np
try:
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    feats = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
except ImportError:
    feats = []
rng = np.random.default_rng(13)
bad = []
for name, a in (("int64", rng.integers(-2**40, 2**40, 20000, dtype=np.int64)),
                ("float64", rng.standard_normal(20000))):
    order = np.argsort(a, kind="quicksort")
    ok = sorted(order.tolist()) == list(range(a.size)) and a[order].tolist() == sorted(a.tolist())
    if not ok:
        bad.append(name)
print(",".join(feats) or "-", ",".join(bad) or "-")
"""


def numpy_simd_check(timeout_s: float = 60.0) -> str:
    """One line: 'ok (targets)', or what is wrong and how to switch the faulty loops off."""
    try:
        r = subprocess.run(
            [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return f"unknown: the numpy check took over {timeout_s:.0f} s"
    off = os.environ.get("NPY_DISABLE_CPU_FEATURES", "")
    note = f"; NPY_DISABLE_CPU_FEATURES={off!r}" if off else ""
    if r.returncode != 0:
        return (
            f"BROKEN: numpy's argsort check died (exit {r.returncode}){note}; "
            "an emulated CPU? try NPY_DISABLE_CPU_FEATURES='X86_V3 X86_V4'"
        )
    parts = (r.stdout.strip().splitlines() or ["- -"])[-1].split()
    feats, bad = [*parts, "-", "-"][:2]
    if bad != "-":
        return (
            f"BROKEN: numpy's SIMD argsort ({feats}) returns wrong orders for {bad}{note}; "
            "an emulated CPU? try NPY_DISABLE_CPU_FEATURES='X86_V3 X86_V4'"
        )
    return f"ok ({feats}){note}"
