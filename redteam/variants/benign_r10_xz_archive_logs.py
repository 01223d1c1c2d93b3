"""Round 10 benign act: archive a log directory: tar with xz compression, test the archive, list it.

Housekeeping an ops agent does: ``tar -cJf logs.tar.xz logs/`` over ~3 MiB
of text logs (tar runs ``xz`` as its child: a few seconds of CPU),
``xz -t`` on the archive, ``tar -tJf`` to list it.
"""

from __future__ import annotations

import random
import subprocess
from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 10
BENIGN = True
EXPECT = ()


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    logs = d / "logs"
    logs.mkdir()
    rng = random.Random(10)
    levels = ("INFO", "DEBUG", "WARN", "ERROR")
    for day in range(6):
        lines = (
            f"2026-11-{20 + day:02d}T{h % 24:02d}:{h % 60:02d}:00Z {rng.choice(levels)} worker-{h % 7} "
            f"request id={rng.getrandbits(64):016x} took {rng.randint(1, 900)} ms\n"
            for h in range(6000)
        )
        (logs / f"app-{day}.log").write_text("".join(lines))
    t = rt.now()
    rc_tar = rt.run_child(["tar", "-cJf", "logs.tar.xz", "logs"], timeout=120, cwd=d)
    rc_test = rt.run_child(["xz", "-t", "logs.tar.xz"], timeout=60, cwd=d)
    listing = subprocess.run(
        ["tar", "-tJf", "logs.tar.xz"], cwd=d, capture_output=True, text=True, timeout=60, check=False
    )
    n = len(listing.stdout.split())
    rt.report(
        t,
        (rc_tar, rc_test, listing.returncode, n) == (0, 0, 0, 7),
        f"tar -cJ rc {rc_tar}, xz -t rc {rc_test}, {n} entries listed",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
