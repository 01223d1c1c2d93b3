"""A padded shell copy run while four agent threads flood the sensor's event ring.

Played against the sensor's transport rather than a rule: each writable open of a file by a
watched process is a ring record, and a Python thread reopening one file for writing makes
tens of thousands a second.  Four of them fill the event ring faster than userspace drains it,
and the kernel drops what does not fit -- among it, with luck, the exec record of ``fmt`` (a
copy of dash with bytes appended), which L2 would otherwise name at once.  Before session 21
a lost record left only the host-wide drop counter; the exec was seen in some runs and not in
others.  A detection: L3 EVENTS_LOST (the agent's records were dropped) or L2 (the exec got
through).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from redteam import rt

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L2", "L3:EVENTS_LOST")


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    fmt = rt.copy_padded("/bin/dash", d / "fmt", pad=os.urandom(512))
    stop = time.monotonic() + rt.scaled(3.0)
    counts = [0] * 4

    def flood(i: int) -> None:
        p = str(d / f"spill{i}.log")
        while time.monotonic() < stop:
            for _ in range(500):
                os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            counts[i] += 500

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(rt.scaled(1.0))  # the ring is full by now
    t0 = rt.now()
    rc = rt.run_child([str(fmt), "-c", "exit 0"])
    for t in threads:
        t.join()
    rt.report(t0, rc == 0, f"{fmt} -c during a writable-open flood of {sum(counts)} opens: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
