"""Open "mem" relative to a directory fd of /proc/<pid>, then write.

The path the open call carries is just "mem"; the process is named by the
directory fd opened earlier.
"""

from __future__ import annotations

import os
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid, proc = int(args["pid"]), args.get("proc", "/proc")
    lo = rt.target_addr(args, pid, proc)
    dfd = os.open(f"{proc}/{pid}", os.O_RDONLY | os.O_DIRECTORY)
    try:
        t = rt.now()
        fd = os.open("mem", os.O_RDWR, dir_fd=dfd)
        try:
            n = os.pwrite(fd, os.pread(fd, 64, lo), lo)
        finally:
            os.close(fd)
    finally:
        os.close(dfd)
    rt.report(t, n == 64, f"openat(/proc/{pid} dirfd, mem) pwrite: {n} bytes")


if __name__ == "__main__":
    rt.main(run, globals())
