"""Round 5: queue an atd job by creating the spool file with creat(2) (syscall 85) and sending atd SIGHUP.

Round 3's spool write, with the one create call that is neither open, openat
nor openat2.  Aimed at the claim that "an open for writing or creating" of a
spool file is a DAEMON_HANDOFF.
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
ROUND = 5
EXPECT = ("L2",)
SPOOL = Path("/var/spool/cron/atjobs")


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    atd = rt.pid_of_comm("atd")
    if atd is None:
        rt.report(rt.now(), False, "no atd running")
        return
    name, body = rt.atjob(marker, 0x5A11)
    job = SPOOL / name
    t = rt.now()
    fd = rt.creat(job, 0o700)
    try:
        os.write(fd, body.encode())
    finally:
        os.close(fd)
    os.chown(job, 0, 1)  # daemon-group readable, as at(1) leaves it
    os.kill(atd, signal.SIGHUP)
    ok = rt.wait_file(marker, 15)
    rt.report(t, ok, f"creat(2) {job} + SIGHUP to atd {atd}: marker {'created' if ok else 'missing'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
