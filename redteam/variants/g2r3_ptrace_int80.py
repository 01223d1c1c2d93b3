"""Round 3: PTRACE_ATTACH to the agent through the 32-bit syscall entry (int $0x80) of a 64-bit process.

The ia32 compat table numbers ptrace 26, not 101; the attach is the same.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 3
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    lib = rt.native(args)
    t = rt.now()
    rc, stopped = rt.int80_attach(lib, pid)
    rt.report(t, rc == 0, f"int80 ptrace(ATTACH, {pid}) = {rc}, stopped {stopped}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
