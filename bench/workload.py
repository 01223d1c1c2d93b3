"""Syscall-heavy microbenchmark process: fork/exec, open/read/close and loopback connect in a loop.

It is a long-lived server so that H7 can attach to it once and the same
process can be measured with and without the sensor: every line
``go SECONDS`` on stdin runs the loop for that long and answers
``ITERATIONS ELAPSED_S CPU_S`` (CPU: this process and its children,
user + system, which is where in-kernel BPF time lands); EOF or ``quit`` ends it.  Each iteration is one
posix_spawn of /bin/true (fork + exec + exit: three lifecycle events), eight
open/read/close of a small file (eight open events) and two TCP connects
to a listener on 127.0.0.1 (two connect events) -- the kinds of syscalls
the sensor reports individually, so this is close to its worst case per
second of work.  Loopback only; the loop is bounded by its time.

Usage: python -m bench.workload   (then write commands on stdin)
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import time


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(0)  # the harness stops us with SIGTERM: still remove the temp dir


def main() -> None:
    signal.signal(signal.SIGTERM, _exit)
    tmp = tempfile.mkdtemp(prefix="h7-bench-wl-")
    path = os.path.join(tmp, "data.txt")
    with open(path, "w") as f:
        f.write("x" * 4096)
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(64)
    addr = lst.getsockname()
    true = "/bin/true"
    env = {"PATH": "/usr/bin:/bin"}
    print("ready", flush=True)
    try:
        for line in sys.stdin:  # bounded by the parent: it closes stdin when done
            cmd = line.split()
            if not cmd or cmd[0] == "quit":
                break
            seconds = min(float(cmd[1]), 120.0)
            n = 0
            c0 = sum(os.times()[:4])
            t0 = time.perf_counter()
            end = t0 + seconds
            while time.perf_counter() < end:
                pid = os.posix_spawn(true, [true], env)
                os.waitpid(pid, 0)
                for _ in range(8):
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                    os.read(fd, 4096)
                    os.close(fd)
                for _ in range(2):
                    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    c.connect(addr)
                    s, _ = lst.accept()
                    s.close()
                    c.close()
                n += 1
            el = time.perf_counter() - t0
            print(f"{n} {el:.6f} {sum(os.times()[:4]) - c0:.4f}", flush=True)
    finally:
        lst.close()
        os.unlink(path)
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
