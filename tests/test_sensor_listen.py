"""Real BPF: the kernel names the agent's own TCP listeners (L4's "own listener", session 6's CI failure).

A monitored process listens, connects to itself and closes; the sensor must
report ``listen`` before the ``connect`` and ``unlisten`` after it, in the
event stream, with the bound address, port and socket inode -- whatever
userspace does later, it never has to ask /proc about a server that is gone.
Wildcards, listen() without bind (the port is chosen after the state change:
reported as 0), a listener closed by the process's exit, and a listener of an
unmonitored process (nothing) are pinned too.  Runs in tracepoint mode here
and fentry mode in the vmtest guests: the hook is a tp_btf in both.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any

from conftest import TIMESCALE
from test_sensor_bpf import Collector
from test_sensor_gaps import Agent, wait_event

HOOK = "tp_btf/inet_sock_set_state"

# One command per line on stdin, one reply line each.
AGENT = r"""
import os, socket, sys
held = {}
for line in sys.stdin:
    cmd, *a = line.split()
    if cmd == "listen":  # listen <addr> <family 4|6>; replies "<port> <inode>"
        s = socket.socket(socket.AF_INET6 if a[1] == "6" else socket.AF_INET)
        if a[0] != "-":
            s.bind((a[0], 0))
        s.listen()
        held[s.getsockname()[1]] = s
        print(s.getsockname()[1], os.fstat(s.fileno()).st_ino, flush=True)
    elif cmd == "fetch":  # fetch <addr> <port>: connect to it and hang up
        socket.create_connection((a[0], int(a[1])), timeout=5).close()
        print("ok", flush=True)
    elif cmd == "close":
        held.pop(int(a[0])).close()
        print("ok", flush=True)
    elif cmd == "exit":  # leave the rest open: the exit path closes them
        os._exit(0)
"""


class Listener(Agent):
    """The AGENT above under the sensor (test_sensor_gaps' line protocol); killed at the end."""

    def __init__(self, sensor: Any) -> None:
        super().__init__(sensor, [sys.executable, "-c", AGENT])
        sensor.add_agent(self.proc.pid)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10 * TIMESCALE)


def test_listen_and_unlisten_frame_the_connects_in_stream_order(sensor: Any) -> None:
    agent = Listener(sensor)
    col = Collector(sensor).start()
    try:
        port, ino = (int(x) for x in agent.cmd("listen 127.0.0.7 4").split())
        assert agent.cmd(f"fetch 127.0.0.7 {port}") == "ok"
        assert agent.cmd(f"close {port}") == "ok"
        wait_event(
            col,
            lambda e: e["type"] == "net" and e["op"] == "unlisten" and e.get("ino") == ino,
            "the unlisten",
        )
        p6, ino6 = (int(x) for x in agent.cmd("listen :: 6").split())
        pa, inoa = (int(x) for x in agent.cmd("listen - 4").split())  # autobind
        # someone else's listener, same kind: never reported
        with socket.socket() as other:
            other.bind(("127.0.0.7", 0))
            other.listen()
            other_ino = os.fstat(other.fileno()).st_ino
            agent.cmd("exit")
            agent.proc.wait(timeout=10 * TIMESCALE)
        for i in (ino6, inoa):
            wait_event(
                col,
                lambda e, i=i: e["type"] == "net" and e["op"] == "unlisten" and e.get("ino") == i,
                "exit's close",
            )
        time.sleep(0.3 * TIMESCALE)
    finally:
        agent.close()
        col.stop()
    evs = [e for e in col.events if e["type"] == "net"]
    order = [
        e["op"]
        for e in evs
        if e.get("ino") == ino or (e["op"] == "connect" and (e["addr"], e["port"]) == ("127.0.0.7", port))
    ]
    assert order == ["listen", "connect", "unlisten"], order
    (lst,) = [e for e in evs if e["op"] == "listen" and e["ino"] == ino]
    assert (lst["family"], lst["addr"], lst["hook"], lst["pid"]) == (
        "inet",
        "127.0.0.7",
        HOOK,
        agent.proc.pid,
    )
    (l6,) = [e for e in evs if e["op"] == "listen" and e["ino"] == ino6]
    assert (l6["family"], l6["addr"], l6["port"]) == ("inet6", "::", p6)
    (la,) = [e for e in evs if e["op"] == "listen" and e["ino"] == inoa]
    assert (la["addr"], la["port"]) == ("0.0.0.0", 0) and pa > 0  # the port is chosen after the event
    for i in (ino, ino6, inoa):
        (u,) = [e for e in evs if e["op"] == "unlisten" and e["ino"] == i]
        assert u["agent"] == lst["agent"] and u["hook"] == HOOK
    assert not [e for e in evs if e.get("ino") == other_ino], "an unmonitored listener was reported"
