"""Round 6 benign act: measure a tool's peak memory and I/O the way psutil does, from /proc/<child>/.

While its tool child (sha256sum of 24 MiB) runs, the agent samples that
child's status, stat, io and smaps_rollup every 50 ms (psutil's
memory_full_info reads smaps_rollup), then its own /proc/self/status: a
test runner's or build agent's resource report.  Only the agent's own child
and itself are read.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 6
BENIGN = True
EXPECT = ()


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    blob = d / "artifact.bin"
    with open(blob, "wb") as f:
        for i in range(24):
            f.write(bytes([i]) * (1 << 20))
    t = rt.now()
    p = subprocess.Popen(["sha256sum", str(blob)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    samples, peak = 0, 0
    end = time.monotonic() + 20
    while p.poll() is None and time.monotonic() < end:
        with contextlib.suppress(OSError):
            for name in ("status", "stat", "io", "smaps_rollup"):
                with open(f"/proc/{p.pid}/{name}") as f:
                    text = f.read()
                if name == "status":
                    for line in text.splitlines():
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]))
            samples += 1
        time.sleep(0.05)
    out, _ = p.communicate(timeout=20)
    with open("/proc/self/status") as f:
        own = f.read().count("\n")
    ok = p.returncode == 0 and len(out) > 64 and own > 10
    rt.report(t, ok, f"sha256sum exit {p.returncode}; {samples} samples of /proc/<child>, peak {peak} kB")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
