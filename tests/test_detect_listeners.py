"""L4's "the agent's own listener" check, with real sockets and real processes (no BPF needed)."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys

from h7.detect.listeners import OwnClients, agent_tree, own_client, own_listener

LO = ipaddress.ip_address("127.0.0.1")


def test_a_socket_the_tree_listens_on_is_its_own() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert own_listener(os.getpid(), LO, port)
        assert not own_listener(os.getpid(), LO, port + 1 if port < 65535 else port - 1)
        assert not own_listener(os.getpid(), ipaddress.ip_address("10.0.0.1"), port)  # loopback only
        # another process (no sockets of its own) does not own our listener
        other = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
        )
        try:
            assert not own_listener(other.pid, LO, port)
        finally:
            other.communicate(b"", timeout=10)


def test_a_child_listening_on_a_wildcard_v6_socket_belongs_to_the_tree() -> None:
    code = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_INET6)\n"
        "s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n"
        "s.bind(('::', 0)); s.listen()\n"
        "print(s.getsockname()[1], flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        assert child.pid in agent_tree(os.getpid())
        assert own_listener(os.getpid(), LO, port)  # v4 loopback reaches a dual-stack wildcard
        assert own_listener(os.getpid(), ipaddress.ip_address("::1"), port)
    finally:
        child.communicate("", timeout=10)


def test_the_cache_finds_a_new_listener_and_bounds_its_scans() -> None:
    import time

    from h7.detect.listeners import ListenerCache

    cache = ListenerCache(min_refresh_s=0.05, max_age_s=1.0)
    assert not cache.owns(os.getpid(), LO, 9)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        time.sleep(0.06)  # a listener opened after the last scan is found on a miss
        assert cache.owns(os.getpid(), LO, s.getsockname()[1])
    # a storm of distinct loopback destinations: a bounded number of /proc scans
    before = cache.scans
    t0 = time.monotonic()
    for i in range(2000):
        cache.owns(os.getpid(), ipaddress.ip_address(f"127.9.{i >> 8}.{i & 255}"), 9)
    elapsed = time.monotonic() - t0
    assert cache.scans - before <= elapsed / 0.05 + 2


def test_own_client_finds_the_agents_client_socket_and_nobody_elses() -> None:
    """listeners.own_client: the client end of a live loopback connection, in the agent's tree or not."""
    lo = ipaddress.ip_address("127.0.0.1")
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        lport = srv.getsockname()[1]
        with socket.create_connection(("127.0.0.1", lport), timeout=5) as c:
            conn, _ = srv.accept()
            with conn:
                cport = c.getsockname()[1]
                assert own_client(os.getpid(), lo, cport, lport)  # this process holds the client
                assert not own_client(os.getpid(), lo, cport, lport + 1 if lport < 65535 else 1)
                other = subprocess.Popen(["sleep", "30"])
                try:
                    assert not own_client(other.pid, lo, cport, lport)  # a tree without that socket
                finally:
                    other.kill()
                    other.wait()
        # closed: nothing to find (a collector gone before the check is judged, fail closed)
        assert not own_client(os.getpid(), lo, cport, lport)


def test_own_clients_reads_proc_once_per_agent_and_rechecks_only_its_own_clients() -> None:
    """OwnClients: a snapshot of the agent's client sockets at its first check; outside clients
    cost no further /proc read, a client in the snapshot is checked live."""
    lo = ipaddress.ip_address("127.0.0.1")
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        lport = srv.getsockname()[1]
        with socket.create_connection(("127.0.0.1", lport), timeout=5) as mine:
            conn, _ = srv.accept()
            with conn:
                cport = mine.getsockname()[1]
                cache = OwnClients()
                assert cache.owns(os.getpid(), lo, cport, lport)  # open before the first check: found
                assert cache.scans == 2  # the snapshot, then the live check of that candidate
                other = subprocess.Popen(["sleep", "30"])
                try:
                    outside = OwnClients()
                    for _ in range(50):  # every connection of an outside client, one check each
                        assert not outside.owns(other.pid, lo, cport, lport)
                    assert outside.scans == 1  # one snapshot; none of them read /proc again
                finally:
                    other.kill()
                    other.wait()
                with socket.create_connection(("127.0.0.1", lport), timeout=5) as later:
                    conn2, _ = srv.accept()
                    with conn2:
                        # opened after the snapshot: the kernel's own_conns matches its replies,
                        # so L4 never asks; were it asked, it is not read from /proc again
                        assert not cache.owns(os.getpid(), lo, later.getsockname()[1], lport)
                        assert cache.scans == 2
        # closed since the snapshot: the live check finds nothing (judged, fail closed)
        assert not cache.owns(os.getpid(), lo, cport, lport)
        assert cache.scans == 3
