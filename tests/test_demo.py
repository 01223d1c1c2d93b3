"""The demo end to end, as `make demo` runs it: every channel detects, the benign window is silent."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import bpf_unavailable


def test_demo_detects_all_five_channels(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    from h7.demo.runner import run_demo

    res = run_demo(tmp_path / "demo", baseline_s=15, benign_s=8, wait_s=12)
    assert not res.benign_alerts, res.benign_alerts
    assert not res.missed, f"missed channels: {res.missed}"
    for ch in ("L1", "L2", "L3", "L4", "L5"):
        assert res.detected[ch] and all(ld.sig_ok for ld in res.detected[ch])
    assert res.ok
