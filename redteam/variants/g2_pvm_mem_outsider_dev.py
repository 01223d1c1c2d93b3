"""DEV attack (session 13): the agent's forked child writes an outsider's memory without ptrace.

The memory-write side of the class of red-team round 10's held-out ``g1r10_ptrace_inject_outsider``
(written from its class in docs/redteam.md "Round 10", not from the variant): a forked copy of the
agent writes 16 bytes of a process outside every agent (a ``sleep`` started at set-up in its own
session) with ``process_vm_writev``, then again through its ``/proc/PID/mem`` opened read-write;
each write puts back what was there.  Expected: L5 ``PROCESS_MEMORY_ACCESS`` x2,
``tamper_direction: agent_is_tracer``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 2
MODE = "inject"
TARGET = "host"
HELD_OUT = False
STAGE = True
EXPECT = ("L5",)


def _pidfile(work: str) -> Path:
    return Path(work) / "g2-pvm-mem-outsider-dev.pid"


def stage(args: dict[str, Any]) -> None:
    pidfile = _pidfile(args["work"])
    rt.stage_daemon(["sleep", "infinity"], pidfile, pidfile.exists)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_pidfile(args["work"]))


def run(args: dict[str, Any]) -> None:
    pid = int(_pidfile(args["work"]).read_text())
    addr = rt.writable_region(pid)[0]
    r, w = os.pipe()
    t = rt.now()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.close(r)
            _, same = rt.pvm(pid, addr, None, 16)
            n1, _ = rt.pvm(pid, addr, same)
            n2 = rt.rewrite_mem(os.open(f"/proc/{pid}/mem", os.O_RDWR), addr, 16)
            os.write(w, f"{n1} {n2}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    got = os.read(r, 64).decode()
    os.close(r)
    os.waitpid(child, 0)
    rt.report(t, got == "16 16", f"child {child} wrote outsider sleep {pid}: {got or 'failed'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
