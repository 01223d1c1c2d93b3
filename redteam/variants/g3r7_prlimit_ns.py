"""Round 7: from inside the container, change the agent's resource limits with prlimit(2) by namespace pid.

Tampering without ptrace, /proc or memory: the agent's RLIMIT_NOFILE soft
limit is lowered to what it has open plus a few (its next tool call that
opens files fails with EMFILE), then restored at once.  prlimit on another
process is gated by credentials, not by the ptrace access check.
"""

from __future__ import annotations

import resource
from typing import Any

from redteam import rt

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = True
ROUND = 7
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    t = rt.now()
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    low = min(soft, 64)
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (low, hard))
        seen = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))  # restored at once
    back = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    rt.report(
        t,
        seen == (low, hard) and back == (soft, hard),
        f"prlimit({pid} ns pid, NOFILE): {soft}/{hard} -> {seen[0]}/{seen[1]} -> back {back[0]}/{back[1]}",
    )


if __name__ == "__main__":
    rt.main(run, globals())
