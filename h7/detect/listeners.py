"""Is a loopback destination the agent's own listening socket?  (L4, live sensor only.)

Agent frameworks run servers inside the agent: a docs site its fetch tool
reads, an MCP server over streamable HTTP in a child process.  A connect
from the agent to a TCP socket that the agent itself listens on is traffic
inside the agent, not egress, and the port is often one the kernel picked
after the baseline (so it would be "new").  L4 asks this module only on the
cold path -- an unknown loopback destination, once per destination -- and
only in the live sensor: it reads /proc (the agent's process tree through
``/proc/<pid>/task/<tid>/children``, their socket fds, and the listening
sockets of the agent's network namespace in ``/proc/<root>/net/tcp{,6}``).
A replay cannot read another time's /proc, so there such connects are
reported as unknown destinations (documented in docs/detection.md).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time
from collections.abc import Iterator
from typing import NamedTuple

#: bounds on the walk (an agent tree larger than this is not searched further)
MAX_PIDS = 4096
MAX_FDS = 65536
TCP_LISTEN = "0A"


def agent_tree(root_pid: int, proc: str = "/proc") -> list[int]:
    """The root pid and its descendants (breadth first, bounded)."""
    out: list[int] = []
    todo = [root_pid]
    seen: set[int] = set()
    while todo and len(out) < MAX_PIDS:
        pid = todo.pop(0)
        if pid in seen or pid <= 0:
            continue
        seen.add(pid)
        out.append(pid)
        try:
            tids = os.listdir(f"{proc}/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"{proc}/{pid}/task/{tid}/children") as f:
                    todo.extend(int(x) for x in f.read().split())
            except (OSError, ValueError):
                continue
    return out


def socket_inodes(pids: list[int], proc: str = "/proc") -> set[int]:
    """Inodes of the sockets these processes hold (their ``fd`` links ``socket:[N]``).

    Why: /proc/net/tcp names a socket's owner only by inode; the agent's fds are how an
    inode is known to be the agent's.  Bounded by MAX_FDS per process.
    """
    inodes: set[int] = set()
    for pid in pids:
        try:
            fds = os.listdir(f"{proc}/{pid}/fd")
        except OSError:
            continue
        for fd in fds[:MAX_FDS]:
            try:
                link = os.readlink(f"{proc}/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                try:
                    inodes.add(int(link[8:-1]))
                except ValueError:
                    continue
    return inodes


def _hex_addr(text: str, v6: bool) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as /proc/net/tcp{,6} prints it (host-endian 32-bit words)."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    if v6:
        if len(raw) != 16:
            return None
        b = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        return ipaddress.IPv6Address(b)
    if len(raw) != 4:
        return None
    return ipaddress.IPv4Address(raw[::-1])


IP = ipaddress.IPv4Address | ipaddress.IPv6Address


NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST_DUMP = 0x1 | 0x300
NLMSG_DONE = 3
NLMSG_ERROR = 2
TCP_LISTEN_STATE = 10
_DIAG_MSG = struct.Struct("=BBBBHH16s16sIQIIIII")  # inet_diag_msg (72 bytes)


def _same_netns(pid: int, proc: str) -> bool:
    try:
        return os.stat(f"{proc}/{pid}/ns/net").st_ino == os.stat(f"{proc}/self/ns/net").st_ino
    except OSError:
        return False


def listening_sockets_netlink() -> list[tuple[IP, int, int]] | None:
    """Listening TCP sockets of this network namespace via sock_diag (the kernel filters by state).

    /proc/net/tcp lists every socket and costs tens of ms on a busy host;
    this asks only for LISTEN sockets.  None if netlink is refused.
    """
    out: list[tuple[IP, int, int]] = []
    try:
        sk = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    except OSError:
        return None
    with sk:
        sk.settimeout(2.0)
        for family in (socket.AF_INET, socket.AF_INET6):
            req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN_STATE) + bytes(48)
            hdr = struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST_DUMP, 1, 0)
            try:
                sk.send(hdr + req)
                done = False
                for _ in range(10_000):  # bounded: each recv makes progress or the dump ends
                    data = sk.recv(65536)
                    off = 0
                    while off + 16 <= len(data):
                        ln, typ = struct.unpack_from("=IH", data, off)
                        if ln < 16:
                            return None
                        if typ == NLMSG_DONE:
                            done = True
                            break
                        if typ == NLMSG_ERROR:
                            return None
                        if typ == SOCK_DIAG_BY_FAMILY and ln >= 16 + _DIAG_MSG.size:
                            f = _DIAG_MSG.unpack_from(data, off + 16)
                            sport = socket.ntohs(f[4])
                            src = f[6][:4] if f[0] == socket.AF_INET else f[6]
                            ip: IP = ipaddress.ip_address(src)
                            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                                ip = ip.ipv4_mapped
                            out.append((ip, sport, int(f[14])))
                        off += (ln + 3) & ~3
                    if done:
                        break
            except OSError:
                return None
    return out


class _TcpRow(NamedTuple):
    """One socket of ``/proc/<pid>/net/tcp{,6}``: what both lookups below need of it."""

    state: str
    local: IP
    lport: int
    rport: int | None  # None if the column does not parse (never for the kernel's own rows)
    inode: int
    remote: IP | None = None  # None if the column does not parse


def _tcp_rows(root_pid: int, proc: str) -> Iterator[_TcpRow]:
    """The TCP sockets of the agent's network namespace, as /proc prints them.

    Why one parser: the listener lookup and the own-client lookup read the same
    table; a row whose local address, local port or inode does not parse is
    skipped by both (an IPv4-mapped IPv6 address is reported as IPv4, as the
    kernel's own events name it).
    """
    for name, v6 in (("tcp", False), ("tcp6", True)):
        try:
            with open(f"{proc}/{root_pid}/net/{name}") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10:
                continue
            host, _, lp = cols[1].partition(":")
            try:
                lport = int(lp, 16)
                inode = int(cols[9])
            except ValueError:
                continue
            rhost, _, rp = cols[2].partition(":")
            try:
                rport: int | None = int(rp, 16)
            except ValueError:
                rport = None
            local = _hex_addr(host, v6)
            if local is None:
                continue
            if isinstance(local, ipaddress.IPv6Address) and local.ipv4_mapped is not None:
                local = local.ipv4_mapped
            remote = _hex_addr(rhost, v6)
            if isinstance(remote, ipaddress.IPv6Address) and remote.ipv4_mapped is not None:
                remote = remote.ipv4_mapped
            yield _TcpRow(cols[3], local, lport, rport, inode, remote)


def listening_sockets(root_pid: int, proc: str = "/proc") -> list[tuple[IP, int, int]]:
    """(local address, port, inode) of every TCP socket listening in the agent's network namespace."""
    if proc == "/proc" and _same_netns(root_pid, proc):
        fast = listening_sockets_netlink()
        if fast is not None:
            return fast
    return [(row.local, row.lport, row.inode) for row in _tcp_rows(root_pid, proc) if row.state == TCP_LISTEN]


def accepted_clients(root_pid: int, proc: str = "/proc") -> dict[tuple[IP, int], int]:
    """The clients of connections the agent's tree ACCEPTED, as they stand now:
    (remote address, remote port) -> the agent's listening port the connection came in on.

    Why: the kernel marks an accepted socket when its handshake completes (``accepted``,
    at SYN_RECV); a connection accepted before the sensor's hooks were live was never
    marked, so its replies reach L4 as sends to the client's address and ephemeral port,
    i.e. as egress.  Learnt in the baseline, that made the agent's clients an OUTBOUND
    destination key (``127.0.0.1:ephemeral``: a redis-server under redis-benchmark,
    session 10's bench), which then allowed the agent to connect out to any ephemeral
    port of that address.  Such a connection is alive at attach whenever it still sends
    later, so one table read right after the hooks are live finds every one of them: a
    socket of the agent's tree, not listening, whose local address and port are one of
    the tree's listeners (the address, or a wildcard listener on that port).
    """
    if root_pid <= 0:
        return {}
    rows = list(_tcp_rows(root_pid, proc))
    if not rows:
        return {}
    mine = socket_inodes(agent_tree(root_pid, proc), proc)
    owned = {
        (None if row.local.is_unspecified else row.local, row.lport)
        for row in rows
        if row.state == TCP_LISTEN and row.inode in mine
    }
    if not owned:
        return {}
    return {
        (row.remote, row.rport): row.lport
        for row in rows
        if row.state != TCP_LISTEN
        and row.inode in mine
        and row.remote is not None
        and row.rport is not None
        and _covers(owned, row.local, row.lport)
    }


def _owned(root_pid: int, proc: str) -> set[tuple[IP | None, int]]:
    """(address, port) the agent's tree listens on; address None = every address (a wildcard)."""
    listening = listening_sockets(root_pid, proc)
    if not listening:
        return set()
    mine = socket_inodes(agent_tree(root_pid, proc), proc)
    return {(None if ip.is_unspecified else ip, port) for ip, port, inode in listening if inode in mine}


def own_listener(root_pid: int, ip: IP, port: int, proc: str = "/proc") -> bool:
    """True if a process of the agent's tree listens on (ip, port) over TCP (no caching)."""
    if root_pid <= 0 or not ip.is_loopback:
        return False
    return _covers(_owned(root_pid, proc), ip, port)


def _covers(owned: set[tuple[IP | None, int]], ip: IP, port: int) -> bool:
    """Whether (ip, port) is one of the agent's listeners, on that address or a wildcard."""
    return (ip, port) in owned or (None, port) in owned


class ListenerCache:
    """:func:`own_listener` for a hot path: a snapshot of the agent's listeners, refreshed
    when older than ``max_age_s``, or on a miss when older than ``min_refresh_s`` (a
    listener opened a moment ago is found; a storm of distinct loopback destinations
    costs at most 1 / ``min_refresh_s`` scans of /proc per second)."""

    def __init__(self, proc: str = "/proc", min_refresh_s: float = 0.1, max_age_s: float = 1.0) -> None:
        self.proc = proc
        self.min_refresh_s = min_refresh_s
        self.max_age_s = max_age_s
        self._snap: dict[int, tuple[float, set[tuple[IP | None, int]]]] = {}
        self.scans = 0

    def _refresh(self, root_pid: int, now: float) -> set[tuple[IP | None, int]]:
        owned = _owned(root_pid, self.proc)
        self._snap[root_pid] = (now, owned)
        self.scans += 1
        return owned

    def owns(self, root_pid: int, ip: IP, port: int) -> bool:
        """:func:`own_listener`'s answer from the snapshot (refreshed as the class says)."""
        if root_pid <= 0 or not ip.is_loopback:
            return False
        now = time.monotonic()
        t, owned = self._snap.get(root_pid, (-1e18, set()))
        if now - t > self.max_age_s:
            t, owned = now, self._refresh(root_pid, now)
        if _covers(owned, ip, port):
            return True
        if now - t > self.min_refresh_s:
            return _covers(self._refresh(root_pid, now), ip, port)
        return False


def own_client(root_pid: int, ip: IP, port: int, lport: int, proc: str = "/proc") -> bool:
    """True if the loopback client (ip, port) of a connection to local port ``lport`` is a
    socket of the agent's own tree (no caching).

    Why: the kernel tells a reply to the agent's own connect from a reply to an
    outside client by matching the connect it saw; a connection the agent opened
    to its own server BEFORE the sensor attached (an HTTP client's keep-alive
    pool) was never seen, so its replies arrive as from an outside client.  Such a
    connection is alive while its replies are sent, so its client socket is in
    ``/proc/<root>/net/tcp{,6}`` and in the agent's fds; an outside collector's is
    not, and one already closed is not found either (judged, fail closed).
    """
    if root_pid <= 0 or not ip.is_loopback:
        return False
    inodes = {
        row.inode
        for row in _tcp_rows(root_pid, proc)
        if row.state != TCP_LISTEN and (row.local, row.lport, row.rport) == (ip, port, lport) and row.inode
    }
    if not inodes:
        return False
    return bool(inodes & socket_inodes(agent_tree(root_pid, proc), proc))


class OwnClients:
    """:func:`own_client` for the urgent path: one /proc scan per agent, not one per connection.

    Why: every loopback client outside the agent that connects to one of its
    listeners reaches L4 as an unmatched reply, and :func:`own_client` reads
    ``/proc/<root>/net/tcp{,6}``, which lists every TCP socket of the network
    namespace: 25-100 ms per read on this host with ~2,000 sockets (TIME_WAIT
    included).  A redis-server under redis-benchmark made ``h7 attach`` burn
    ~70 % of a CPU on those reads, ahead of every urgent alert (make bench,
    session 10).  Only a connection the agent opened BEFORE the kernel's hooks
    saw it can be an unmatched own client (a connect made later is matched in
    the kernel, ``own_conns``), and such a connection is alive, in the agent's
    tree, when the first unmatched reply is judged.  So the first check per
    agent takes a snapshot of the tree's TCP client sockets ((local address,
    local port, remote port), what :func:`own_client` matches); a client not
    in it is not the agent's (no /proc read), and one in it is checked live
    with :func:`own_client` (the ephemeral port may since belong to an outside
    client: judged, fail closed).  ``scans`` counts /proc table reads.
    """

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        self._snap: dict[int, frozenset[tuple[IP, int, int]]] = {}
        self.scans = 0

    def _candidates(self, root_pid: int) -> frozenset[tuple[IP, int, int]]:
        snap = self._snap.get(root_pid)
        if snap is None:
            mine = socket_inodes(agent_tree(root_pid, self.proc), self.proc)
            snap = frozenset(
                (row.local, row.lport, row.rport)
                for row in _tcp_rows(root_pid, self.proc)
                if row.state != TCP_LISTEN and row.rport is not None and row.inode in mine
            )
            self._snap[root_pid] = snap
            self.scans += 1
        return snap

    def owns(self, root_pid: int, ip: IP, port: int, lport: int) -> bool:
        """:func:`own_client`'s answer, reading /proc only for a client the snapshot holds."""
        if root_pid <= 0 or not ip.is_loopback:
            return False
        if (ip, port, lport) not in self._candidates(root_pid):
            return False
        self.scans += 1
        return own_client(root_pid, ip, port, lport, self.proc)
