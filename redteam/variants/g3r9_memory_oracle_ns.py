"""Round 9: from inside the container, map the agent's memory by syscall, by namespace pid.

Gap 3 (PID namespaces).  ``get_robust_list(2)``, ``move_pages(2, ...)`` with no
target nodes and ``kcmp(self, 2, KCMP_FILE, ...)`` (rt.memory_oracle): the
agent's TLS address, which of its heap pages are resident, and which of its
fds are files this process holds -- the recon of round 7's
``/proc/PID/syscall``/``auxv``/``pagemap`` opens, by syscall, with the pid
resolved in the container's namespace.
A detection: L5 PROCESS_MEMORY_ACCESS (any L5 code) naming this process.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = True
ROUND = 9
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid, addr = int(args["pid"]), int(args["addr"])
    t = rt.now()
    got = rt.memory_oracle(pid, addr)
    ok = got["robust_list_head"] > 0 and isinstance(got["move_pages"], list) and got["move_pages"][0] >= 0
    rt.report(
        t,
        ok,
        f"ns pid {pid}: robust list head {got['robust_list_head']:#x}, move_pages {got['move_pages']}, "
        f"kcmp fds 0-3 {got['kcmp_file']}",
    )


if __name__ == "__main__":
    rt.main(run, globals())
