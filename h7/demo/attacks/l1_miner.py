"""Hidden cryptominer: a CPU-bound thread started inside the agent (T1496 resource hijacking).

It changes the agent's scheduling fingerprint (long on-CPU slices,
involuntary switches) without any new process, file or connection, which
is exactly what only the scheduling channel (L1) can see.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any


def run(args: dict[str, Any]) -> None:
    seconds = float(args.get("seconds", 6.0))
    threads = int(args.get("threads", 2))

    def mine() -> None:
        end = time.monotonic() + seconds
        h = b"h7"
        while time.monotonic() < end:  # bounded in time
            for _ in range(2000):
                h = hashlib.sha256(h).digest()

    ts = [threading.Thread(target=mine, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    if args.get("wait", False):
        for t in ts:
            t.join()


if __name__ in ("__main__", "h7_injected"):
    run(globals().get("ARGS", {"wait": True}))
