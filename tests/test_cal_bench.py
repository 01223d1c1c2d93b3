"""The benchmark entry point `make bench` calls returns both rates (no timing assertions)."""

from __future__ import annotations

from bench import cal_bench as bench


def test_bench_quick_reports_both_rates() -> None:
    out = bench.run(quick=True)
    assert set(out) == {"cal_sign_write_per_s", "cal_verify_per_s"}
    assert all(isinstance(v, float) and v > 0 for v in out.values())
