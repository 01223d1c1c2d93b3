"""Shared fixtures.  Real-BPF tests need root and a kernel that loads H7's programs.

With H7_REQUIRE_BPF=1 (CI) an unavailable BPF environment is a failure, not a skip:
a CI run that silently skipped the kernel tests would prove nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_BPF = os.environ.get("H7_REQUIRE_BPF") == "1"
#: Multiplies the wall-clock deadlines of live tests: vmtest guests run under
#: software emulation, several times slower than the host.
TIMESCALE = float(os.environ.get("H7_TEST_TIMESCALE", "1"))


def bpf_unavailable(reason: str) -> None:
    if REQUIRE_BPF:
        pytest.fail(f"BPF required (H7_REQUIRE_BPF=1) but unavailable: {reason}")
    pytest.skip(f"BPF unavailable: {reason}")


@pytest.fixture
def sensor() -> Iterator[object]:
    """An opened Sensor; closed (all links destroyed) after the test."""
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    try:
        from h7.sensor.sensor import Sensor
    except ImportError as e:
        bpf_unavailable(f"extension not built: {e}")
    from h7.errors import H7Error

    s = Sensor()
    try:
        s.open()
    except H7Error as e:
        bpf_unavailable(str(e))
    try:
        yield s
    finally:
        s.close()
