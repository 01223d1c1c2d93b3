"""Round 8: inside the container, a NEW procfs from the new mount API (fsopen/fsmount), mounted nowhere.

``fsopen("proc")``, ``fsconfig(FSCONFIG_CMD_CREATE)``, ``fsmount()``: a procfs
instance of the container's PID namespace that exists only as an fd.
``openat(mntfd, "2/mem")`` then opens the agent's memory by its namespace pid
with no ``/proc`` in any path; 32 heap bytes rewritten as they were.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = True
ROUND = 8
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    t, n, addr = rt.detached_mem_rewrite(args, "fsmount")
    rt.report(
        t, n == 32, f"fsopen(proc)+fsmount fd, openat(fd, '{args['pid']}/mem'): rewrote {n} B at {addr:#x}"
    )


if __name__ == "__main__":
    rt.main(run, globals())
