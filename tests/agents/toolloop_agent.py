"""An "agent" running parallel tool workers, fewer of them after its baseline: small benign batches.

    python tests/agents/toolloop_agent.py [--workers N] [--slow-workers M] [--fast-s S] [--life-s S]

Why: L1 judges a batch's scheduling events against the baseline's, and a
batch of a few dozen events shows a divergence from sampling noise alone
that a batch of hundreds does not.  Each worker does the same thing all the
time -- a tool step (read two files, write one, hash 32 KB; every tenth step
``ls`` of the work directory), then a sleep of 0.1-0.3 s -- and ``--workers``
run for the first ``--fast-s`` seconds (the whole baseline), then only
``--slow-workers``.  So the monitored batches have the baseline's shape with
a fraction of its events: the sampling class of make eval's session-10 L1
false alerts (small batches judged against a threshold learnt on bigger
ones), on purpose and with nothing else changed.  A heartbeat thread wakes
every 250 ms throughout (an SDK's keep-alive).  Prints "ready" once running;
exits after ``--life-s`` (bounded).  Written for L1's development journals
(tests/journals/drift/record.py ``toolslow``), not for make eval.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def step(work: Path, i: int, blob: bytes) -> None:
    """One tool call: what a file/shell tool does, a few ms of CPU."""
    for name in ("notes.txt", "plan.md"):
        (work / name).read_bytes()
    (work / f"out{i % 4}.txt").write_bytes(blob[: 1024 + (i % 7) * 512])
    hashlib.sha256(blob).digest()
    if i % 10 == 0:
        subprocess.run(["ls", str(work)], stdout=subprocess.DEVNULL, check=False, timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=8, help="tool workers for the first --fast-s seconds")
    ap.add_argument("--slow-workers", type=int, default=2, help="tool workers after that")
    ap.add_argument("--fast-s", type=float, default=40.0)
    ap.add_argument("--life-s", type=float, default=600.0, help="exit after this long (bounded)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if not 0 < a.slow_workers <= a.workers <= 64:
        raise SystemExit("toolloop_agent: need 0 < --slow-workers <= --workers <= 64")
    blob = bytes(range(256)) * 128
    t0 = time.monotonic()
    end = t0 + a.life_s

    def heartbeat() -> None:
        while time.monotonic() < end:
            hashlib.sha256(b"ping").digest()
            time.sleep(0.25)

    def worker(k: int, work: Path) -> None:
        rng = random.Random(a.seed * 1000 + k)
        i = k
        while time.monotonic() < end:
            if k >= a.slow_workers and time.monotonic() - t0 >= a.fast_s:
                return  # the pace drops: this worker's tool calls end
            step(work, i, blob)
            i += a.workers
            time.sleep(rng.uniform(0.1, 0.3))

    with tempfile.TemporaryDirectory(prefix="h7-toolloop-") as tmp:
        work = Path(tmp)
        (work / "notes.txt").write_bytes(blob[:4096])
        (work / "plan.md").write_bytes(blob[:2048])
        threads = [threading.Thread(target=heartbeat, daemon=True)]
        threads += [threading.Thread(target=worker, args=(k, work), daemon=True) for k in range(a.workers)]
        for t in threads:
            t.start()
        print("ready", flush=True)
        for t in threads:
            t.join(timeout=max(0.0, end - time.monotonic()) + 5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
