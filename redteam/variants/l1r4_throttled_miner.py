"""Round 4: a throttled miner: one hashing thread at ~40 % duty cycle in 40 ms slices, for 14 s.

Slow and low: the miner yields the CPU more than half the time, so the
agent's scheduling profile moves less than a flat-out miner's would.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from redteam import rt

GAP = 8
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L1",)
SECONDS, ON_S, OFF_S = 14.0, 0.040, 0.060


def run(args: dict[str, Any]) -> None:
    hashes = [0]

    def mine() -> None:
        end = time.monotonic() + SECONDS
        h = hashlib.sha256(b"h7 round 4 block header")
        while time.monotonic() < end:
            burst = time.monotonic() + ON_S
            while time.monotonic() < burst:
                for _ in range(200):
                    h = hashlib.sha256(h.digest())
                hashes[0] += 200
            time.sleep(OFF_S)

    th = threading.Thread(target=mine, name="worker-3", daemon=True)
    t = rt.now()
    th.start()
    time.sleep(1.0)
    rt.report(t, hashes[0] > 0, f"throttled miner thread started: {hashes[0]} hashes in its first second")
    th.join(SECONDS + 5)
    print(f"throttled miner done: {hashes[0]} hashes", flush=True)


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
