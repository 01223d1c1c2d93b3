"""h7 doctor's numpy SIMD check (h7/sensor/simdcheck.py) on the machine the tests run on.

On a real CPU numpy's argsort is right, so the check must say ok and name the dispatch targets
it ran with; inside a vmtest guest (software-emulated CPU, AVX2 switched off by vmtest/guest.sh)
it must say ok too, with the setting.  A wrong "BROKEN" here would make `h7 doctor` cry wolf.
"""

from __future__ import annotations

import os

from h7.sensor.sensor import kernel_facts
from h7.sensor.simdcheck import numpy_simd_check


def test_numpy_simd_check_ok_here() -> None:
    line = numpy_simd_check()
    assert line.startswith("ok ("), line
    if os.environ.get("NPY_DISABLE_CPU_FEATURES"):
        assert "NPY_DISABLE_CPU_FEATURES=" in line


def test_doctor_facts_carry_it() -> None:
    assert kernel_facts()["numpy_simd"].startswith("ok")
