"""`make bench`'s event-ring figures come from a real sensor and a real open flood."""

from __future__ import annotations

import os

from conftest import bpf_unavailable


def test_event_drain_decode_measures_open_records() -> None:
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    from bench import sensor_bench

    out = sensor_bench.event_drain_decode_throughput(records=3000, rounds=1)
    # the flood filled the ring past the asked-for records, and every drained record was decoded
    assert out["sensor_event_records"] >= 3000
    assert out["sensor_event_drain_decode_records_per_s"] > 0
    # decoding to dicts costs something on top of the C drain: the two rates are of the same records
    assert out["sensor_event_drain_records_per_s"] > out["sensor_event_drain_decode_records_per_s"]
    assert out["sensor_event_decode_us_per_record"] > 0
