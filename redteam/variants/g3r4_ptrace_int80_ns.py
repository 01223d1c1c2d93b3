"""Round 4: PTRACE_ATTACH through the 32-bit entry (int $0x80), from inside the container's PID namespace.

The ia32 syscall number (26), a namespace pid as the argument.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = True
ROUND = 4
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    lib = rt.native(args)
    t = rt.now()
    rc, stopped = rt.int80_attach(lib, pid)
    rt.report(t, rc == 0, f"int80 ptrace(ATTACH, ns pid {pid}) = {rc}, stopped {stopped}")


if __name__ == "__main__":
    rt.main(run, globals())
