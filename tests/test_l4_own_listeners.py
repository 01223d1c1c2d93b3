"""L4: the agent's own TCP listeners, as the kernel reports them (events in, verdicts out).

The sensor reports a monitored task's TCP socket entering LISTEN (op
``listen``, from ``tp_btf/inet_sock_set_state`` in the task calling listen())
and leaving it (op ``unlisten``, whichever task closes it);
tests/test_sensor_listen.py checks that side with real BPF.  Here: L4 decides
"own listener" from those events in stream order, so a tool's in-process
server that is already closed when the batch is judged still counts for the
fetches made while it listened (session 6's CI failure: /proc read at batch
time found nothing), and a port the agent closed is somebody else's next.
/proc is off (``read_proc = False``, as in a replay): nothing here depends on
what happens to be listening on this host.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from h7.alert import Alert
from h7.batch import AgentInfo
from h7.config import EngineConfig
from h7.detect.channels.l3_causal import CausalChannel
from h7.detect.channels.l4_egress import host_ephemeral_range
from h7.detect.engine import Engine

sys.path.insert(0, str(Path(__file__).parent / "journals"))
import make_synthetic as ms

NS = 10**9
T = ms.T0 + 40 * NS


def _net(op: str, addr: str, port: int, ts: int, ino: int = 0, family: str = "") -> dict[str, Any]:
    kw: dict[str, Any] = {"fd": -1, "hook": "cgroup/connect4"}
    if family:
        kw["family"] = family
    if op in ("listen", "unlisten"):
        kw.update(hook="tp_btf/inet_sock_set_state", ino=ino)
    return ms.net_event(op, addr, port, ts, **kw)


def _engine(read_proc: bool = False, info: AgentInfo = ms.AGENT_INFO, baseline_events: Any = ()) -> Engine:
    config = EngineConfig(read_proc=read_proc)
    return ms.baselined_engine(config, info, added={3: list(baseline_events)})


def _keys(out: list[Alert]) -> list[str]:
    return [a.key for a in out if a.channel == "L4" and a.code == "UNKNOWN_DESTINATION"]


def _l4(engine: Engine) -> dict[str, Any]:
    st = engine.agents[1]
    (ch,) = [c for c in st.channels if c.name == "L4"]
    return ch.status()


def test_a_server_closed_before_its_batch_is_judged_is_still_the_agents() -> None:
    """The CI failure's sequence in one batch: listen, ten fetches, close; then the port is reused."""
    engine = _engine()
    port = 40001
    evs = [_net("listen", "127.0.0.7", port, T, ino=77)]
    evs += [_net("connect", "127.0.0.7", port, T + i + 1) for i in range(10)]
    evs.append(_net("unlisten", "127.0.0.7", 0, T + 20, ino=77))  # the kernel has released the port by then
    assert _keys(engine.on_events(evs)) == []
    st = _l4(engine)
    assert st["own_listeners"] == [f"127.0.0.7:{port}"] and st["listening_now"] == 0
    # the same port later: not the agent's any more (nothing cached from the first verdicts)
    assert _keys(engine.on_events([_net("connect", "127.0.0.7", port, T + 30)])) == ["127.0.0.7:ephemeral"]


def test_stream_order_decides_a_connect_before_the_listen_is_not_to_an_own_listener() -> None:
    engine = _engine()
    out = engine.on_events(
        [
            _net("connect", "127.0.0.9", 40002, T),  # refused: nothing listened yet
            _net("listen", "127.0.0.9", 40002, T + 1, ino=5),
            _net("connect", "127.0.0.9", 40002, T + 2),
        ]
    )
    assert [(a.key, a.evidence["port"]) for a in out if a.channel == "L4"] == [("127.0.0.9:ephemeral", 40002)]


def test_address_wildcards_and_loopback_only() -> None:
    engine = _engine()
    assert (
        engine.on_events([_net("listen", "::", 40003, T, ino=6), _net("listen", "127.0.0.1", 8123, T, ino=7)])
        == []
    )
    # a dual-stack wildcard owns the port on every loopback address, v4 and v6
    assert _keys(engine.on_events([_net("connect", "127.0.0.8", 40003, T + 1)])) == []
    assert _keys(engine.on_events([_net("connect", "::1", 40003, T + 2)])) == []
    assert _keys(engine.on_events([_net("connect", "::ffff:127.0.0.5", 40003, T + 3, family="inet6")])) == []
    # a listener bound to 127.0.0.1 does not own 127.0.0.2; nor is a non-loopback address ever "own"
    assert _keys(engine.on_events([_net("connect", "127.0.0.2", 8123, T + 4)])) == ["127.0.0.2:8123"]
    assert _keys(engine.on_events([_net("connect", "192.0.2.1", 40003, T + 5)])) == ["192.0.2.1:ephemeral"]
    assert _keys(engine.on_events([_net("connect", "127.0.0.1", 8123, T + 6)])) == []


def test_reuseport_listeners_count_until_the_last_closes() -> None:
    engine = _engine()
    evs = [_net("listen", "127.0.0.1", 9555, T, ino=21), _net("listen", "127.0.0.1", 9555, T, ino=22)]
    evs += [_net("unlisten", "127.0.0.1", 0, T + 1, ino=21), _net("connect", "127.0.0.1", 9555, T + 2)]
    assert _keys(engine.on_events(evs)) == []
    out = engine.on_events(
        [_net("unlisten", "127.0.0.1", 0, T + 3, ino=22), _net("connect", "127.0.0.1", 9555, T + 4)]
    )
    assert _keys(out) == ["127.0.0.1:9555"]
    # an unlisten of a socket never reported (opened before attach) changes nothing
    assert engine.on_events([_net("unlisten", "127.0.0.1", 0, T + 5, ino=999)]) == []


def test_a_listener_opened_during_the_baseline_counts_after_it() -> None:
    engine = _engine(baseline_events=[_net("listen", "127.0.0.6", 40004, ms.T0 + 4 * NS, ino=8)])
    assert _keys(engine.on_events([_net("connect", "127.0.0.6", 40004, T)])) == []


def test_listen_events_are_not_destinations_anywhere() -> None:
    """A listen names a local address: no UNKNOWN_DESTINATION, no L3 edge, no baseline key."""
    engine = _engine(baseline_events=[_net("listen", "127.0.0.4", 40005, ms.T0 + 4 * NS, ino=9)])
    checked = _l4(engine)["destinations_checked"]
    out = engine.on_events(
        [_net("listen", "10.9.9.9", 443, T, ino=10), _net("unlisten", "10.9.9.9", 0, T + 1, ino=10)]
    )
    assert out == []
    st = _l4(engine)
    assert st["baseline_destinations"] == _l4(_engine())["baseline_destinations"]
    assert st["destinations_checked"] == checked and st["listen_events"] == 3
    l3 = next(c for c in engine.agents[1].channels if isinstance(c, CausalChannel))
    assert l3.builder is not None
    assert l3.builder.edges([_net("listen", "10.9.9.9", 443, T, ino=10)]) == []


def test_live_fallback_for_a_listener_the_kernel_could_not_name() -> None:
    """listen() without bind: the kernel reports port 0 (it picks the port after the state
    change), so the live sensor asks /proc, and "not own" answers cached before are dropped."""
    me = AgentInfo(1, f"test:{os.getpid()}", os.getpid(), sys.executable, [sys.executable], 0)
    engine = _engine(read_proc=True, info=me)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]  # bound, not listening: nobody accepts on it
        lo, hi = host_ephemeral_range()
        want = "127.0.0.1:ephemeral" if lo <= free <= hi else f"127.0.0.1:{free}"
        assert _keys(engine.on_events([_net("connect", "127.0.0.1", free, T)])) == [want]
        s.listen()
        with socket.socket() as a:
            a.listen()  # autobind
            port = a.getsockname()[1]
            time.sleep(0.2)  # past the listener cache's least refresh interval (0.1 s)
            out = engine.on_events([_net("listen", "0.0.0.0", 0, T + 2, ino=os.fstat(a.fileno()).st_ino)])
            assert out == []
            assert _keys(engine.on_events([_net("connect", "127.0.0.1", port, T + 3)])) == []
            assert _keys(engine.on_events([_net("connect", "127.0.0.1", free, T + 4)])) == []
    assert sorted(_l4(engine)["own_listeners"]) == sorted([f"127.0.0.1:{port}", f"127.0.0.1:{free}"])
