"""`make bench`'s sink section runs end to end (a real sinkhole process) and reports every step."""

from __future__ import annotations

from bench import sink_bench


def test_sink_bench_quick_reports_each_step() -> None:
    out = sink_bench.run(quick=True)
    assert out["sink_alerts"] == 10.0
    steps = ("sink_cal_write_ms", "sink_submit_ms", "sink_submit_to_line_ms", "sink_cal_to_line_ms")
    assert set(out) == {"sink_alerts"} | {f"{s}_{q}" for s in steps for q in ("p50", "p99")}
    assert all(v > 0 for v in out.values())
    # the total is the sum of the steps, alert by alert: its percentiles bound the parts'
    assert out["sink_cal_to_line_ms_p99"] >= out["sink_cal_write_ms_p50"]
