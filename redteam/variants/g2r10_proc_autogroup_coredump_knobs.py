"""Round 10: the agent's /proc/PID/autogroup nice and coredump_filter rewritten from outside, then restored.

Gap 2 (tampering without ptrace).  Two ``/proc/<pid>`` settings no earlier
round touched: ``autogroup`` (the CFS autogroup of the agent's session: nice
19 starves every process of the session against the rest of the host) and
``coredump_filter`` (0x1ff: a crash of the agent would now dump its shared
and file-backed mappings too -- what an attacker who then crashes it wants to
read in the core).  Both set, read back, held 1 s, restored.  The class of
the ``oom_score_adj`` and ``timerslack_ns`` knobs docs/detection.md
certifies as PROCESS_LIMITS_CHANGED, through two other files.
A detection: L5 (any code) naming this process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 10
EXPECT = ("L5",)


def knobs(proc: Path) -> tuple[bool, str]:
    """Set, check, restore both knobs under ``proc`` (/proc/PID); returns (ok, detail)."""
    ag, cf = proc / "autogroup", proc / "coredump_filter"
    ag0 = ag.read_text().split()[-1]  # "/autogroup-N nice V"
    cf0 = cf.read_text().strip()
    try:
        ag.write_text("19")
        cf.write_text("0x1ff")
        seen = (ag.read_text().split()[-1], cf.read_text().strip())
        time.sleep(1.0)
    finally:
        ag.write_text(ag0)
        cf.write_text(f"0x{cf0}")
    back = (ag.read_text().split()[-1], cf.read_text().strip())
    ok = seen == ("19", "000001ff") and back == (ag0, cf0)
    return (
        ok,
        f"{proc}: autogroup nice {ag0} -> {seen[0]}, "
        f"coredump_filter {cf0} -> {seen[1]}, 1 s, restored {back}",
    )


def run(args: dict[str, Any]) -> None:
    t = rt.now()
    ok, detail = knobs(Path(f"/proc/{int(args['pid'])}"))
    rt.report(t, ok, detail)


if __name__ == "__main__":
    rt.main(run, globals())
