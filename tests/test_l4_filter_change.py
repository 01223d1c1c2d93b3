"""Real BPF: a monitored process changing the packet filter is certified (L4 EGRESS_FILTER_CHANGED).

Issue 13 gap 1, red-team round 9's class (g1r9_nft_dnat_allowed_api, held out: fixed by class
here): every egress hook reads a connect's address before the netfilter hooks run, so an
nftables DNAT rule sends the packets of a connect to an allowed address elsewhere.  The kernel
reports the act instead (bpf/h7.bpf.c, on_filter_send / on_filter_setsockopt, sys_enter in both
modes): a send on a NETLINK_NETFILTER socket whose first message begins an nftables batch, and
an x_tables replace setsockopt.  The agent runs in its own network namespace (``unshare -n``):
its rules change only that namespace, never the host's.  Negative cases: ``nft list`` (reads,
no batch) by the agent, and a change by a process outside the agent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import TIMESCALE
from test_sensor_bpf import Collector
from test_sensor_gaps import Agent, wait_event, watched_agent

from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l4_egress import EgressChannel
from h7.detect.engine import EngineConfig

#: one command per stdin line, one reply: "nft ARGS..." runs nft (a child: in the agent's tree),
#: "xt" tries iptables-legacy's replace on a raw socket itself (the kernel refuses the garbage)
AGENT = r"""
import socket, subprocess, sys
for line in sys.stdin:
    cmd = line.split()
    if not cmd or cmd[0] == "exit":
        break
    if cmd[0] == "nft":
        r = subprocess.run(["nft", *cmd[1:]], capture_output=True, text=True, timeout=60)
        print(r.returncode, flush=True)
    elif cmd[0] == "xt":
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        try:
            s.setsockopt(socket.SOL_IP, 64, b"\0" * 96)
            print("accepted", flush=True)
        except OSError as e:
            print(e.errno, flush=True)
        finally:
            s.close()
"""

NFT = shutil.which("nft")
RULES = "add table ip h7t ; add chain ip h7t out { type nat hook output priority -100 ; } ; " \
    "add rule ip h7t out tcp dport 9 dnat to 127.0.0.1:10"  # fmt: skip


def require_netns() -> None:
    r = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"unshare -n not permitted here: {r.stderr.decode().strip()}")


def require_nft() -> None:
    """nft installed and this kernel's nf_tables usable (a guest kernel may lack the module)."""
    if NFT is None:
        pytest.skip("nft is not installed")
    probe = ["unshare", "-n", NFT, "add", "table", "ip", "h7probe"]
    r = subprocess.run(probe, capture_output=True, timeout=60)
    if r.returncode != 0:
        pytest.skip(f"nf_tables unusable on this kernel: {r.stderr.decode().strip()}")


@pytest.fixture
def watched(sensor: Any) -> Iterator[tuple[Any, Agent, Collector]]:
    """AGENT in a network namespace of its own, watched from its start (it has no greeting)."""
    require_netns()
    argv = ["unshare", "-n", sys.executable, "-c", AGENT]  # unshare execs: same pid
    with watched_agent(sensor, argv, greet=None) as w:
        yield w


def filter_events(col: Collector) -> list[dict[str, Any]]:
    return [e for _, e in list(col.urgent_at) if e["type"] == "net" and e["op"] == "filter"]


def l4_alerts(ev: dict[str, Any]) -> list[Any]:
    cfg = EngineConfig.from_dict({})
    ch = EgressChannel(cfg)
    ctx = ChannelContext(agent=1, agent_id="a", info=None, config=cfg, proc=ProcReader(False, "/proc"))
    return ch.on_events([ev], ctx)


def test_nft_dnat_rule_by_the_agent_is_certified(watched: Any) -> None:
    """The agent's nft (its child) adds a table, a nat chain and a DNAT rule in one batch."""
    _, agent, col = watched
    require_nft()
    netns = os.stat(f"/proc/{agent.proc.pid}/ns/net").st_ino
    assert agent.cmd(f"nft {RULES}") == "0"
    ev = wait_event(col, lambda e: e["type"] == "net" and e["op"] == "filter", "nftables batch")
    assert ev["family"] == "netlink" and ev["hook"] == "tp_btf/sys_enter", ev
    assert ev["netns"] == netns and ev["comm"] == "nft" and ev["pid"] != agent.proc.pid, ev
    assert ev["port"] == (10 << 8) | 0, ev  # the batch's first change: NFT_MSG_NEWTABLE
    alerts = l4_alerts(ev)
    assert [a.code for a in alerts] == ["EGRESS_FILTER_CHANGED"], alerts
    got = alerts[0].evidence
    assert got["interface"] == "nftables" and got["first_change"] == "NEWTABLE" and got["netns"] == netns, got
    assert alerts[0].key == f"filter:{netns}:nftables", alerts[0].key


def test_nft_list_and_an_outsiders_change_are_not_reported(watched: Any) -> None:
    """``nft list ruleset`` only reads (no batch); a process outside the agent changing its own
    namespace's filter is no act of the agent's."""
    _, agent, col = watched
    require_nft()
    assert agent.cmd("nft list ruleset") == "0"
    r = subprocess.run(["unshare", "-n", "nft", *RULES.split()], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    time.sleep(1.0 * TIMESCALE)
    assert filter_events(col) == []
    # and the hook is live in this very sensor: the agent's own change is seen
    assert agent.cmd(f"nft {RULES}") == "0"
    wait_event(col, lambda e: e["type"] == "net" and e["op"] == "filter", "nftables batch")


def test_xtables_replace_by_the_agent_is_reported(watched: Any) -> None:
    """iptables-legacy's IPT_SO_SET_REPLACE on a raw socket, by the agent itself: reported at
    sys_enter whatever the kernel then answers (garbage here: refused)."""
    _, agent, col = watched
    assert agent.cmd("xt") != "accepted"
    ev = wait_event(col, lambda e: e["type"] == "net" and e["op"] == "filter", "x_tables setsockopt")
    assert ev["family"] == "inet" and ev["port"] == 64 and ev["pid"] == agent.proc.pid, ev
    alerts = l4_alerts(ev)
    assert [a.code for a in alerts] == ["EGRESS_FILTER_CHANGED"], alerts
    assert alerts[0].evidence["first_change"] == "IPT_SO_SET_REPLACE", alerts[0].evidence


def test_a_filter_change_is_no_destination() -> None:
    """L4 takes no destination from a filter record (an x_tables one has family inet)."""
    ev = {"type": "net", "op": "filter", "family": "inet", "addr": "0.0.0.0", "port": 64, "pid": 7}
    assert EgressChannel._dest(ev) is None
    assert EgressChannel._dest({**ev, "op": "connect"}) is not None
