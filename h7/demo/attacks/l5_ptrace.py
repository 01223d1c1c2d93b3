"""Process injection by debugger attach: ptrace ATTACH/SEIZE on the agent (T1055.008).

A separate process attaches to the agent as an injector would (to read its
memory, API keys included, or to redirect it), then detaches. With --tools,
also uses gdb -p and strace -p where installed. Usage: l5_ptrace.py --pid PID
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import subprocess
from typing import Any

PTRACE_ATTACH, PTRACE_DETACH, PTRACE_SEIZE = 16, 17, 0x4206


def _ptrace(request: int, pid: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long
    return int(libc.ptrace(request, pid, None, None))


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    if _ptrace(PTRACE_ATTACH, pid) != 0:
        raise OSError(ctypes.get_errno(), f"PTRACE_ATTACH {pid} failed")
    os.waitpid(pid, 0)
    _ptrace(PTRACE_DETACH, pid)
    if args.get("tools"):
        if shutil.which("gdb"):
            subprocess.run(
                ["gdb", "-p", str(pid), "-batch", "-ex", "info registers rip"],
                capture_output=True,
                timeout=30,
                check=False,
            )
        if shutil.which("strace"):
            subprocess.run(
                ["timeout", "1", "strace", "-p", str(pid)], capture_output=True, timeout=10, check=False
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--tools", action="store_true", help="also attach with gdb -p and strace -p")
    a = ap.parse_args()
    run({"pid": a.pid, "tools": a.tools})


if __name__ == "__main__":
    main()
