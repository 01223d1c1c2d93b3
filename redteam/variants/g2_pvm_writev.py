"""Process_vm_writev into the agent's heap by an unrelated process (code/data injection without ptrace).

Writes back the bytes it just read, so the agent is tampered with but not
broken.
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
    _, data = rt.pvm(pid, lo, None, 64)
    n, _ = rt.pvm(pid, lo, data)
    rt.report(t, n == 64, f"process_vm_writev({pid}, {lo:#x}) wrote {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
