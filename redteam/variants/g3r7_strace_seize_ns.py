"""Round 7: `strace -p NSPID` inside the container: the stock tracer seizes the agent by its namespace pid.

Living off the land in a container: strace attaches with PTRACE_SEIZE to every
thread of the agent (pid 2 in its namespace), watches nothing
(``-e trace=none``) for half a second and detaches on SIGINT.
"""

from __future__ import annotations

import select
import signal
import subprocess
import time
from typing import Any

from redteam import rt

GAP = 3
MODE = "nsenter"
TARGET = "ns"
HELD_OUT = True
ROUND = 7
EXPECT = ("L5",)


def run(args: dict[str, Any]) -> None:
    pid = int(args["pid"])
    t = rt.now()
    p = subprocess.Popen(
        ["strace", "-p", str(pid), "-e", "trace=none", "-o", "/dev/null"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # Detach once strace says it attached (0.5 s after that), at most 10 s x TIMESCALE: a fixed
    # 0.5 s interrupted strace before it had attached in a 1-vCPU emulated guest (rc -2, no output).
    assert p.stderr is not None
    first = b""
    ready, _, _ = select.select([p.stderr], [], [], rt.scaled(10))
    if ready:
        first = p.stderr.readline()
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate(timeout=5)
    msg = (first + err).decode(errors="replace")
    ok = f"Process {pid} attached" in msg
    rt.report(t, ok, f"strace -p {pid} (ns pid): rc {p.returncode}, {msg.strip().splitlines()[:2]}")


if __name__ == "__main__":
    rt.main(run, globals())
