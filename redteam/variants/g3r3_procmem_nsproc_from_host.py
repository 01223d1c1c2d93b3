"""Round 3: from the host PID namespace, in the container's mount namespace, write /proc/NSPID/mem.

nsenter --mount only: the caller's pids are host pids, but its /proc is the
container's, where the agent is pid 2 (on the host, pid 2 is kthreadd).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from redteam import rt

GAP = 3
MODE = "external"
TARGET = "ns"
HELD_OUT = True
ROUND = 3
EXPECT = ("L5",)

INNER = r"""
import json, os, sys, time
a = json.loads(sys.argv[1])
t = time.time_ns()
fd = os.open(f"/proc/{a['nspid']}/mem", os.O_RDWR)
data = os.pread(fd, 16, a["addr"])
n = os.pwrite(fd, data, a["addr"])
os.close(fd)
print(json.dumps({"t": t, "n": n}))
"""


def run(args: dict[str, Any]) -> None:
    host_pid = int(args["pid"])
    addr = rt.target_addr(args, host_pid)
    nspid = int(args["ns_pid_of_target"])
    r = subprocess.run(
        [
            "nsenter",
            "--target",
            str(host_pid),
            "--mount",
            "--",
            sys.executable,
            "-c",
            INNER,
            json.dumps({"nspid": nspid, "addr": addr}),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        rt.report(rt.now(), False, f"inner failed: {r.stderr[-200:]}")
        return
    rt.report(
        int(out["t"]), out["n"] == 16, f"host-pidns caller, container /proc/{nspid}/mem: {out['n']} bytes"
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
