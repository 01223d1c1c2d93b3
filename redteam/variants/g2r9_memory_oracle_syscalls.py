"""Round 9: map the agent's memory and files by syscall, no ptrace, /proc or process_vm_*.

Gap 2 (tampering without ptrace: the reconnaissance before a write).  Three
syscalls that take another process's pid and answer questions about its
address space and fds: ``get_robust_list`` (its TLS address: an ASLR leak),
``move_pages`` with no target nodes (which of its pages are mapped and
resident, what ``/proc/PID/pagemap`` tells), ``kcmp(KCMP_FILE)`` (are its fds
0..3 the files this process holds).  Round 7 did the same recon through
``/proc/PID/syscall``, ``auxv`` and ``pagemap`` opens, which L5 certifies;
these are the syscall route to the same answers, each gated by a read-level
ptrace access check only.
A detection: L5 PROCESS_MEMORY_ACCESS (any L5 code) naming this process.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
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
        f"pid {pid}: robust list head {got['robust_list_head']:#x}, move_pages {got['move_pages']}, "
        f"kcmp fds 0-3 {got['kcmp_file']}",
    )


if __name__ == "__main__":
    rt.main(run, globals())
