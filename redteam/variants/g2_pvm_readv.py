"""Process_vm_readv of the agent's heap by an unrelated process (credential theft without ptrace).

Reads 4 KiB of the agent's memory, the way an infostealer lifts API keys.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    lo = rt.target_addr(args, pid, args.get("proc", "/proc"))
    t = rt.now()
    n, _ = rt.pvm(pid, lo, None, 4096)
    rt.report(t, n == 4096, f"process_vm_readv({pid}, {lo:#x}) read {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
