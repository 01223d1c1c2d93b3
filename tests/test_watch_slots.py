"""Watch mode reuses agent numbers: past 1,024 matches over a sensor's life, every match is watched.

Real BPF, real processes: waves of short-lived copies of ``sleep`` match an
``exe=`` selector; each wave is attached, exits, is retired, and its numbers
are handed to the next wave.  The kernel filter bits of a retired agent leave
the shared filter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from conftest import TIMESCALE, bpf_unavailable

from h7.sensor import selectors
from h7.sensor.sensor import MAX_AGENTS, Sensor
from h7.sensor.source import SensorSource

WAVE = 95  # 11 waves: 1,045 matches, past the 1,023 numbers the kernel maps hold


def test_slots_are_reused_past_1024_matches(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    exe = tmp_path / "h7-slot-sleep"
    shutil.copy("/bin/sleep", exe)
    os.chmod(exe, 0o755)
    lines: list[str] = []
    sensor = Sensor()
    source = SensorSource((), [selectors.parse(f"exe={exe}")], sensor=sensor, say=lines.append)
    try:
        source.open()
    except Exception as e:  # BPF refused on this host
        bpf_unavailable(str(e))
    attached = 0
    highest = 0
    filtered_once = False
    try:
        for wave in range(11):
            procs = [subprocess.Popen([str(exe), "30"]) for _ in range(WAVE)]
            try:
                deadline = time.monotonic() + 10 * TIMESCALE  # 95 attaches: seconds on a loaded host
                seen = 0
                while seen < WAVE and time.monotonic() < deadline:
                    new = source.new_agents()
                    seen += len(new)
                    highest = max([highest, *(i.agent for i in new)])
                    time.sleep(0.05)
                assert seen == WAVE, (wave, seen, lines[-5:])
                attached += seen
                if not filtered_once:
                    agent = next(iter(sensor.agents))
                    codes = np.arange(1, 2000, dtype=np.uint64) * np.uint64(2654435761)
                    source.set_sequence_filter(agent, codes)
                    assert sensor._seq_bits is not None and sensor._seq_bits.bits_set() > 0
                    filtered_once = True
            finally:
                for p in procs:
                    p.kill()
                for p in procs:
                    p.wait()
            retired: list[int] = []
            for _ in range(3):  # two batches after the exits, as in a live run
                sensor.poll(0)
                sensor.take_batch(0, 1)
                retired += source.retire_agents()
            assert len(retired) == WAVE, (wave, len(retired))
            assert not sensor.agents
            assert sensor._seq_bits is not None and sensor._seq_bits.bits_set() == 0  # bits left too
    finally:
        source.close()
    assert attached == 11 * WAVE > MAX_AGENTS
    assert highest <= WAVE  # numbers came back from the pool instead of growing
    assert sensor.capacity_refused == 0 and sensor.retired == attached
    assert not [x for x in lines if "ALARM" in x]
