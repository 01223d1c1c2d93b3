"""A single-threaded "agent" that idles like one, and on SIGUSR1 spins on the CPU.

    python tests/agents/spin_agent.py [--spin-s S] [--life-s S]

Quiet: every 100 ms it reads a file and hashes 16 KB (a few ms of CPU), then
sleeps -- an agent waiting on its model.  On SIGUSR1 its ONE thread busy-loops
for ``--spin-s`` seconds without a syscall (time.monotonic is the vDSO), like a
miner or a JavaScript event loop stuck in a hot loop: with a core to itself it
is never switched out, so a sensor that counts CPU time only when a slice ends
sees nothing until the loop stops.  Then quiet again.  It prints "ready" once
the handler is installed and "spin <t0> <t1>" (CLOCK_MONOTONIC) after a spin.
Written for L1's development probe and test (not the evaluation's attack).
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spin-s", type=float, default=20.0)
    ap.add_argument("--life-s", type=float, default=600.0, help="exit after this long (bounded)")
    a = ap.parse_args()
    go: list[int] = []
    signal.signal(signal.SIGUSR1, lambda *_: go.append(1))
    print("ready", flush=True)
    end_of_life = time.monotonic() + a.life_s
    blob = bytes(range(256)) * 64
    while time.monotonic() < end_of_life:
        if go:
            go.clear()
            t0 = time.monotonic()
            x = 0
            while time.monotonic() - t0 < a.spin_s:  # bounded by time; no syscall inside
                for i in range(1000):
                    x = (x * 31 + i) & 0xFFFFFFFF
            print(f"spin {t0:.3f} {time.monotonic():.3f} {x}", flush=True)
            continue
        with open(__file__, "rb") as f:
            f.read(4096)
        hashlib.sha256(blob).digest()
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
