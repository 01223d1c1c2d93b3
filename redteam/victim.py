"""The red team's victim: the demo's tool-using agent, plus what real agents hold.

It is `h7.demo.agent.Agent` (ask a loopback model API for a tool call, run
it, sleep; its ``python`` tool runs injected code) with two things a real
agent process has and the attacks need: a long-lived TCP connection to its
model API (the socket `pidfd_getfd` steals) and a second thread (an idle
keep-alive, the way SDKs keep one).  Bounded in turns and time.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
from pathlib import Path

from h7.demo.agent import Agent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--api", required=True, help="model API as 127.0.0.1:PORT")
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--pid-file", type=Path, required=True)
    ap.add_argument("--duration", type=float, default=3600.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    host, port = args.api.rsplit(":", 1)
    if not host.startswith("127."):
        ap.error("the victim only talks to a loopback model API")
    held = socket.create_connection((host, int(port)), timeout=10)
    stop = threading.Event()

    def keepalive() -> None:
        while not stop.wait(1.0):  # bounded by the process's own lifetime
            pass

    t = threading.Thread(target=keepalive, name="keepalive", daemon=True)
    t.start()
    agent = Agent(args.api, args.workdir, args.seed)
    args.pid_file.write_text(f"{os.getpid()} {held.fileno()}\n")  # the harness reads the socket fd here
    print(f"victim pid {os.getpid()} holding socket fd {held.fileno()}", flush=True)
    try:
        agent.loop(max_turns=1_000_000, max_seconds=args.duration)
    finally:
        stop.set()
        held.close()


if __name__ == "__main__":
    main()
