"""Round 6: queue an atd job by rename(2)-ing a finished job file INTO the spool, then SIGHUP atd.

Rounds 3 and 5 created the job file inside the spool (open, creat).  Here
the file is written in the agent's scratch area (same filesystem) and moved
into /var/spool/cron/atjobs with one rename: nothing is opened in the spool.
Where the scratch area is on another mount (a vmtest guest), the file is staged
on the spool's mount in /var/spool, outside every spool directory.
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
ROUND = 6
EXPECT = ("L2",)
SPOOL = Path("/var/spool/cron/atjobs")


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    atd = rt.pid_of_comm("atd")
    if atd is None:
        rt.report(rt.now(), False, "no atd running")
        return
    name, body = rt.atjob(marker, 0x6E11)
    # rename(2) needs one mount: the scratch area where it shares the spool's (the host), else a
    # directory beside the spool tree on its mount (a vmtest guest's /var/spool is its own tmpfs).
    stage = Path(args["scratch"])
    stage.mkdir(parents=True, exist_ok=True)
    if os.stat(stage).st_dev != os.stat(SPOOL).st_dev:
        stage = SPOOL.parent.parent / f".h7-stage-{os.getpid()}"
    staged = rt.fresh_dir(stage) / name
    staged.write_text(body)
    os.chmod(staged, 0o700)
    os.chown(staged, 0, 1)  # daemon-group, as at(1) leaves it
    t = rt.now()
    os.rename(staged, SPOOL / name)
    os.kill(atd, signal.SIGHUP)
    ok = rt.wait_file(marker, 15)
    rt.report(
        t,
        ok,
        f"rename {staged} -> {SPOOL / name} + SIGHUP atd {atd}: marker {'created' if ok else 'missing'}",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
