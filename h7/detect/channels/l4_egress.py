"""L4 network egress: unknown destinations, and bursts over the baseline rate.

Two questions, two latencies.  "Is this destination allowed?" is answered on
the immediate path for every connect and every first send to a destination
(the kernel de-duplicates sends per (pid, op, destination)), against the
operator allowlist (CIDRs, host:port) and, optionally, what the agent talked
to during the baseline.  "Is the agent sending far more than it does?" needs
a window: per batch, the egress call rates from the in-kernel counters
(connects/s, sends/s, bytes/s) are compared with the baseline's mean rates as
a ratio ("times the baseline", with a small prior so that 0 -> 1 call/s is
not an infinite burst); the divergence is the worst metric's ratio, and the
threshold is calibrated from the same ratio of each baseline batch against
the mean of the others.

Destination keys.  A destination is an address and a *service* port.  A port
in the host's ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``, read
once; ``[detect.l4] ephemeral_ports = [lo, hi]`` overrides it, e.g. to replay a
journal from another host) is what the kernel hands out to clients, so it
names no service: every ephemeral port of one address is ONE destination,
keyed ``<addr>:ephemeral`` (the certificate still quotes the real port).
Without this, replies to a client's port, or a peer that listens on a port the
kernel picked for it, give a new key -- a new alert -- per connection.  The
allowlist accepts the same spelling (``127.0.0.1:ephemeral``).

Inbound peers.  A reply on a TCP connection the agent accepted carries its
data to the peer, so it is egress when the peer is not the agent itself: the
kernel matches every accepted connection against the connects the same agent
made (4-tuple, at ESTABLISHED) and marks the send ``peer_own``.  A reply to
the agent's own connect (an in-process docs site fetched by its own tool, an
MCP server child) is inside the agent and never judged; a reply to anyone
else is judged by the peer's address like a destination -- allowlist,
operator accepts, and what the agent's listeners served during its baseline,
per (listening port, peer address): a set of its own (connecting OUT to
``127.0.0.1:ephemeral`` says nothing about who may pull data IN), and a
listener opened after the baseline has learnt nobody.  Red-team round 7's
``g1r7_accept_side_pull``.
Packets a raw socket builds itself (IP_HDRINCL) are judged by the
destination in their own IP header (``ip_header``), never the sockaddr,
which only picks the route (``g1r7_rawip_hdrincl_spoof``).

Protocols.  A destination is a transport as well as an address and a port: the
kernel reports the sending socket's protocol (``h7_net.proto``/``stype``,
:func:`h7.decode.protocol_name`), and keys, allow rules, baseline-learnt
destinations and operator accepts are per protocol (red-team round 10's
``g1r10_udp_to_allowed_api_port``: datagrams to an allowed TCP API's port).  TCP
keys keep the bare spelling (``127.0.0.1:8080``), every other protocol is
prefixed (``udp:127.0.0.53:53``, ``raw:10.0.0.1:0``); the allowlist reads the same
way, so a bare entry allows TCP only, ``udp:``/``sctp:``/... name another
protocol and ``any:`` every one.  Journals recorded before the kernel reported
the protocol are judged by an inference (:func:`event_protocol`).

No payload, DNS or TLS inspection: a hostname in the allowlist is resolved
once, when the config is loaded.  Only inet/inet6 destinations are checked
against the allowlist; unix sockets show up in L3's causal graph instead.
A frame sent on an AF_PACKET socket (below IP: no address to allow, no inet
hook runs) has its link as destination, keyed ``link:<ifindex>:<ethertype>``:
an UNKNOWN_DESTINATION unless the agent did the same during its baseline
(with ``allow_baseline_destinations``); the allowlist cannot allow a link.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from h7.alert import Alert
from h7.batch import Batch, Event
from h7.config import NS_PER_S, EngineConfig
from h7.decode import FILTER_OP, LISTEN_OPS, NOT_FLOW_OPS
from h7.detect.channels.base import PHASE_BASELINE, Calibration, Channel, ChannelContext, calibrate_threshold
from h7.detect.listeners import ListenerCache, OwnClients, accepted_clients
from h7.detect.window import Cusum, calibrate_cusum
from h7.errors import UsageError
from h7.registry import AlertCode, ChannelSpec, register

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RATE_METRICS = ("connects", "sends", "send_bytes")
# Priors keep a ratio against a near-zero baseline finite and honest:
# going from 0 to 1 connect/s is not an infinite burst.
RATE_PRIOR = np.array([1.0, 2.0, 8192.0])
BURST_FLOOR = 4.0  # at least 4x the baseline rate (plus prior)


@dataclass
class L4Settings:
    """``[detect.l4]``."""

    #: destinations always allowed: CIDRs, host:port, ``*:53`` (hostnames resolved at load)
    allow: list[str] = field(default_factory=list)
    #: destinations seen during the baseline are allowed afterwards
    allow_baseline_destinations: bool = True
    #: how wide a baseline destination's allowance is (32/128: that exact address)
    baseline_prefix_v4: int = 32
    baseline_prefix_v6: int = 128
    #: [low, high] ports that key as "ephemeral"; None: the host's ip_local_port_range
    ephemeral_ports: list[int] | None = None
    #: a loopback TCP destination that the agent itself listens on is not egress (an
    #: in-process docs site, an MCP server child): known from the kernel's listen/unlisten
    #: events, else (listeners opened before attach) from /proc in the live sensor
    allow_own_listeners: bool = True
    #: the long window: a CUSUM per rate metric of log "times the baseline" (h7.detect.window)
    window: bool = True
    #: the CUSUMs' h instead of the calibrated one (None: calibrated)
    window_h: float | None = None
    #: the least standard deviation the CUSUM references are set with (log ratio)
    window_min_sigma: float = 0.0
    #: consecutive batches over the per-batch burst threshold before it alerts; a single
    #: batch is left to the long window, which alerts on it alone when it is far enough over
    persist: int = 2
    #: ... unless its log excess over the baseline's typical batch is this many times the
    #: threshold's (h7.detect.channels.l1_sched.unmistakable, in log "times the baseline")
    alone_excess: float = 2.0


EPHEMERAL = "ephemeral"
#: the protocols an allow rule may name (``any``: every protocol); a bare entry means ``tcp``
RULE_PROTOCOLS = ("tcp", "udp", "udplite", "sctp", "icmp", "raw", "any")
TCP = "tcp"
_SEND_OPS = frozenset({"sendto", "sendmsg", "sendmmsg", "send", "write"})


def event_protocol(ev: Event) -> str:
    """The transport of a net event: what the kernel reported, else (a journal recorded before
    the net record carried the socket's protocol) an inference from what the record does say.

    The inference: a packet built on a raw socket (``ip_header``) is ``raw``; a connect, a
    reply on an accepted connection and a send on a connected socket (``from_socket``) are
    ``tcp``; a send that names its own address is ``udp`` (a datagram: TCP names the address
    only in a rare Fast Open ``sendto``).  A connected UDP socket (glibc's resolver) reads
    as ``tcp`` then, its connect and its sends alike, so a replay learns and judges it
    consistently; only the kernel's own record tells it apart.
    """
    p = ev.get("protocol")
    if p:
        return str(p)
    if ev.get("ip_header"):
        return "raw"
    if ev.get("op") in _SEND_OPS and not ev.get("from_socket") and not ev.get("inbound"):
        return "udp"
    return TCP


PORT_RANGE_PATH = "/proc/sys/net/ipv4/ip_local_port_range"
#: the kernel's default, used if the host's range cannot be read
DEFAULT_EPHEMERAL = (32768, 60999)
_host_range: tuple[int, int] | None = None


def host_ephemeral_range(path: str = PORT_RANGE_PATH) -> tuple[int, int]:
    """The host's ip_local_port_range (read once per process; the kernel default if unreadable)."""
    global _host_range
    if _host_range is None or path != PORT_RANGE_PATH:
        try:
            with open(path) as f:
                lo, hi = (int(x) for x in f.read().split()[:2])
            rng = (lo, hi) if 0 < lo <= hi <= 65535 else DEFAULT_EPHEMERAL
        except (OSError, ValueError):
            rng = DEFAULT_EPHEMERAL
        if path != PORT_RANGE_PATH:
            return rng
        _host_range = rng
    return _host_range


def ephemeral_range(config: EngineConfig) -> tuple[int, int]:
    """The configured ephemeral range, else the host's."""
    r = config.settings(L4Settings).ephemeral_ports
    if r is None:
        return host_ephemeral_range()
    if len(r) != 2 or not 0 < int(r[0]) <= int(r[1]) <= 65535:
        raise UsageError(f"[detect.l4] ephemeral_ports must be [low, high] ports, not {r!r}")
    return int(r[0]), int(r[1])


def dest_key(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    port: int,
    eph: tuple[int, int],
    text: str = "",
    proto: str = TCP,
) -> str:
    """``1.2.3.4:443``, ``[::1]:443``; a port in the ephemeral range becomes ``ephemeral``;
    a protocol other than TCP is prefixed (``udp:1.2.3.4:53``), the allowlist's spelling.

    ``text``: ``str(ip)`` if the caller has it already (formatting an address is
    the dearest step of a storm's hot path).  Why the prefix: a datagram to a TCP
    service's port must neither match its rule nor fold into its alert.
    """
    a = text or str(ip)
    p = EPHEMERAL if eph[0] <= port <= eph[1] else str(port)
    k = f"[{a}]:{p}" if ip.version == 6 else f"{a}:{p}"
    return k if proto == TCP else f"{proto}:{k}"


def _dest_text(ip: IPAddress, port: int, proto: str, a: str = "") -> str:
    """The real destination, as the allowlist would spell it (``udp:127.0.0.1:5353``)."""
    a = a or str(ip)
    k = f"[{a}]:{port}" if ip.version == 6 else f"{a}:{port}"
    return k if proto == TCP else f"{proto}:{k}"


def split_protocol(text: str) -> tuple[str | None, str]:
    """(protocol, rest) of ``udp:1.2.3.4:53`` / an alert key; (None, text) without a prefix.

    A prefix is a known protocol name, or any word of letters and digits (not a hex group:
    ``fd00::/8`` is an address) followed by a host:port of its own, so that a misspelt
    protocol is an error rather than a host name; ``localhost:8080`` has no prefix.
    """
    head, sep, rest = text.partition(":")
    if not (sep and head[:1].isalpha() and head.isalnum()) or _is_hex(head):
        return None, text
    if head.lower() in RULE_PROTOCOLS or ":" in rest or rest.startswith("["):
        return head.lower(), rest
    return None, text  # ``localhost:8080``: a host name and a port


def _is_hex(word: str) -> bool:
    try:
        int(word, 16)
    except ValueError:
        return False
    return True


def _learnt_text(baseline_key: str, lport: int | None = None) -> str:
    """What a baseline key allows, in the allowlist's spelling (``127.0.0.1:ephemeral``,
    ``10.0.0.0/24:443``; ``inbound client 127.0.0.1:ephemeral on port 6379`` for a peer).

    Why: the BASELINE_LEARNT record listed the first connection's real port
    (``127.0.0.1:47304``), which read as if one client's ephemeral port had become a
    destination, and could not tell an inbound client from an outbound destination.  The
    operator reviews what was learnt, so the record says it as ``h7 accept`` takes it.
    """
    net, _, port = baseline_key.partition("|")
    addr, _, plen = net.partition("/")
    v6 = ":" in addr
    full = plen in ("", "128" if v6 else "32")
    host = addr if full else net
    port, _, proto = port.partition("|")
    text = f"[{host}]:{port}" if v6 else f"{host}:{port}"
    if proto and proto != TCP:
        text = f"{proto}:{text}"
    return text if lport is None else f"inbound client {text} on port {lport}"


@dataclass(frozen=True)
class AllowRule:
    net: IPNetwork | None  # None: any address
    port: int | None  # None: any port
    text: str
    #: the port is "ephemeral": any port in the ephemeral range (``port`` is None then)
    ephemeral: bool = False
    #: the transport it allows (``tcp`` for a bare entry); ``any``: every protocol
    proto: str = TCP

    def matches(
        self,
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
        port: int,
        eph: tuple[int, int] = DEFAULT_EPHEMERAL,
        proto: str = TCP,
    ) -> bool:
        if self.proto != "any" and self.proto != proto:
            return False
        if self.ephemeral and not eph[0] <= port <= eph[1]:
            return False
        if self.port is not None and self.port != port:
            return False
        return self.net is None or (ip.version == self.net.version and ip in self.net)


def _resolve(host: str) -> list[IPNetwork]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as e:
        raise UsageError(f"L4 allowlist: cannot resolve {host!r}: {e}") from e
    return sorted({ipaddress.ip_network(i[4][0]) for i in infos}, key=str)


def parse_allow(entries: list[str], *, resolve: bool = True, default_proto: str = TCP) -> list[AllowRule]:
    """``10.0.0.0/8``, ``127.0.0.1:8080``, ``[::1]:443``, ``*:53``, ``api.example.com:443``,
    ``127.0.0.1:ephemeral`` (any port of the ephemeral range), each optionally prefixed by a
    protocol: ``udp:*:53``, ``tcp:10.0.0.5:443``, ``any:10.0.0.0/8`` (RULE_PROTOCOLS).

    Without a prefix an entry allows ``default_proto``: TCP, the safer reading (an existing
    ``127.0.0.1:8080`` for an HTTP API must not let datagrams through to the same port);
    an operator accept signed before records named their protocol passes ``any`` (it was
    protocol-blind when it was signed).
    """
    rules: list[AllowRule] = []
    for raw in entries:
        text = raw.strip()
        pname, body = split_protocol(text)
        proto = default_proto
        if pname is not None:
            if pname not in RULE_PROTOCOLS:
                known = ", ".join(RULE_PROTOCOLS)
                raise UsageError(f"L4 allowlist: unknown protocol {pname!r} in {raw!r} (one of {known})")
            proto = pname
            if not body.strip():
                raise UsageError(f"L4 allowlist: nothing after the protocol in {raw!r}")
        host, port = body, None
        eph = False
        if body.startswith("["):
            end = body.find("]")
            if end < 0:
                raise UsageError(f"L4 allowlist: bad entry {raw!r}")
            host, rest = body[1:end], body[end + 1 :]
            if rest == ":" + EPHEMERAL:
                eph = True
            elif rest:
                if not rest.startswith(":") or not rest[1:].isdigit():
                    raise UsageError(f"L4 allowlist: bad port in {raw!r}")
                port = int(rest[1:])
        elif body.count(":") == 1:
            host, p = body.split(":")
            if p == EPHEMERAL:
                eph = True
            elif not p.isdigit():
                raise UsageError(f"L4 allowlist: bad port in {raw!r}")
            else:
                port = int(p)
        if port is not None and not 0 <= port <= 65535:
            raise UsageError(f"L4 allowlist: port out of range in {raw!r}")
        if host in ("*", ""):
            rules.append(AllowRule(None, port, text, eph, proto))
            continue
        try:
            nets: list[IPNetwork] = [ipaddress.ip_network(host, strict=False)]
        except ValueError:
            if not resolve:
                raise UsageError(f"L4 allowlist: not an address or CIDR: {raw!r}") from None
            nets = _resolve(host)
        rules.extend(AllowRule(n, port, text, eph, proto) for n in nets)
    return rules


class EgressChannel(Channel):
    name = "L4"

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        self.settings = config.settings(L4Settings)
        self.rules = parse_allow(self.settings.allow)
        self.eph = ephemeral_range(config)
        #: destinations an operator accepted while the sensor ran (``h7 accept``)
        self.accepted: list[AllowRule] = []
        self.baseline_dests: set[str] = set()  # "network|port"
        self._rates: list[np.ndarray] = []
        self.mean_rate = np.zeros(len(RATE_METRICS))
        self.cal = Calibration(BURST_FLOOR, "uncalibrated")
        #: the long-window judge, one CUSUM per rate metric of log(rate / baseline rate)
        self.cusums: dict[str, Cusum] = {}
        self._window_rates: list[np.ndarray] = []
        self.last_divergence = 0.0
        #: consecutive batches over the per-batch threshold
        self._over = 0
        #: sends on connections the agent accepted from its own connects: not egress, counted
        self.inbound_seen = 0
        #: first sends on connections accepted from a client outside the agent (judged)
        self.inbound_peers_seen = 0
        #: of those, found in /proc to be the agent's own connection (opened before attach)
        self.own_clients_by_proc = 0
        #: "<listening port>|<peer baseline key>" the agent replied to on accepted connections
        #: during its baseline
        self.baseline_peers: set[str] = set()
        self.unknown_seen = 0
        self.filter_changes = 0  # EGRESS_FILTER_CHANGED verdicts (packet-filter changes by the agent)
        self.checked = 0
        #: monitoring verdicts by (family, addr, port, protocol): None = allowed, else (addr, key, dest)
        self._verdicts: dict[tuple[Any, str, int, str], Any] = {}
        #: loopback destinations found to be the agent's own listeners (not egress)
        self.own_listeners: list[str] = []
        #: destinations learnt during the baseline that no operator allowlist rule covers (at most
        #: 256, first seen): allowed from then on only because they were seen, so the sensor signs
        #: them into the chain when the baseline ends (``learnt_outside_allowlist``)
        self.learnt_unlisted: dict[str, dict[str, Any]] = {}
        self._listeners: ListenerCache | None = None
        self._own_clients: OwnClients | None = None
        #: the agent's TCP listeners as the kernel reported them (listen/unlisten events, in
        #: stream order): socket inode -> (local address, None for a wildcard; port)
        self._listening: dict[int, tuple[IPAddress | None, int]] = {}
        #: how many of those listen on each (address, port) (SO_REUSEPORT: several)
        self._listen_count: dict[tuple[IPAddress | None, int], int] = {}
        #: loopback (address, port) that /proc said the agent does not listen on; only a
        #: listen event (checked first) or an autobound listen (port unknown) changes that
        self._proc_not_own: set[tuple[IPAddress, int]] = set()
        self.listens_seen = 0
        #: live only: clients of connections the agent accepted before the sensor's hooks were
        #: live ((address, port) -> its listening port), read once from /proc at the first
        #: batch (``accepted_clients``); None until read, and always in a replay
        self._pre_accepted: dict[tuple[IPAddress, int], int] | None = None
        #: sends judged as replies on such connections (not egress: judged as inbound peers)
        self.replies_before_attach = 0

    # -- destinations ---------------------------------------------------
    @staticmethod
    def _dest(ev: Event) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int] | None:
        fam = ev.get("family")
        if ev.get("type") != "net" or fam not in ("inet", "inet6") or ev.get("op") in NOT_FLOW_OPS:
            return None
        if ev.get("inbound"):
            return None  # a reply on an accepted connection: _peer() judges it, by its own rules
        return EgressChannel._addr(ev)

    @staticmethod
    def _peer(ev: Event) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int] | None:
        """The client of an accepted connection that is NOT the agent's own connect, else None.

        Records written before the kernel told own from outside peers (no ``peer_own``)
        stay what they were then: replies, not judged.
        """
        if ev.get("type") != "net" or not ev.get("inbound") or ev.get("peer_own", True):
            return None
        if ev.get("family") not in ("inet", "inet6"):
            return None
        return EgressChannel._addr(ev)

    @staticmethod
    def _addr(ev: Event) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int] | None:
        fam = ev.get("family")
        try:
            # the family says which parser: ip_address() would try IPv4 then IPv6
            addr = str(ev.get("addr", ""))
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address = (
                ipaddress.IPv4Address(addr) if fam == "inet" else ipaddress.IPv6Address(addr)
            )
        except ValueError:
            try:
                ip = ipaddress.ip_address(str(ev.get("addr", "")))
            except ValueError:
                return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip, int(ev.get("port", 0))

    def _baseline_key(
        self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, text: str = "", proto: str = TCP
    ) -> str:
        """``network|port`` for TCP (the spelling saved baselines have always had),
        ``network|port|proto`` for any other protocol: learnt per protocol."""
        plen = self.settings.baseline_prefix_v4 if ip.version == 4 else self.settings.baseline_prefix_v6
        p = EPHEMERAL if self.eph[0] <= port <= self.eph[1] else str(port)
        if proto != TCP:
            p = f"{p}|{proto}"
        if plen == ip.max_prefixlen:  # the default: no network to build (a storm's hot path)
            return f"{text or ip}/{plen}|{p}"
        net = ipaddress.ip_network(f"{ip}/{plen}", strict=False)
        return f"{net}|{p}"

    def accept(self, spec: str, default_proto: str = TCP) -> AllowRule:
        """Allow a destination from now on (an operator's signed accept); returns the rule.

        ``default_proto``: what a spec without a protocol prefix allows -- the record's own
        ``protocol`` field, or ``any`` for a record signed before accepts named one.
        """
        rules = parse_allow([spec], resolve=False, default_proto=default_proto)
        self.accepted.extend(rules)
        self._verdicts.clear()
        return rules[0]

    def key_matcher(self, rule: AllowRule) -> Any:
        """A predicate over alert keys (``addr:port``) that ``rule`` allows, for the folder."""

        def match(key: str) -> bool:
            proto, key = split_protocol(key)
            host, _, p = key.rpartition(":")
            try:
                ip = ipaddress.ip_address(host.strip("[]"))
            except ValueError:
                return False
            port = self.eph[0] if p == EPHEMERAL else int(p) if p.isdigit() else -1
            return rule.matches(ip, port, self.eph, proto or TCP)

        return match

    def allowed(
        self,
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
        port: int,
        text: str = "",
        *,
        lport: int | None = None,
        proto: str = TCP,
    ) -> str | None:
        """Why this destination is allowed, or None (``text``: ``str(ip)``, if known).

        ``lport``: the destination is the client of a connection accepted on that
        local port -- allowed by the same allowlist and accepts, but learnt only
        from what that listening port served during the baseline.  ``proto``: the
        transport (``event_protocol``); rules and learnt keys match their own only.
        """
        for r in self.rules:
            if r.matches(ip, port, self.eph, proto):
                return f"allowlist {r.text}"
        for r in self.accepted:
            if r.matches(ip, port, self.eph, proto):
                return f"accepted by operator {r.text}"
        if not self.settings.allow_baseline_destinations:
            return None
        key = self._baseline_key(ip, port, text, proto)
        if lport is not None:
            return "peer served in baseline" if f"{lport}|{key}" in self.baseline_peers else None
        return "seen in baseline" if key in self.baseline_dests else None

    @staticmethod
    def _link(ev: Event) -> tuple[str, str, str] | None:
        """(addr, key, dest) of a frame sent on an AF_PACKET socket: the link is the destination."""
        if ev.get("family") != "packet" or ev.get("inbound"):
            return None
        addr = str(ev.get("addr", ""))  # "ifindex:N" (0: an unbound socket, any link)
        idx = addr.partition(":")[2]
        name = "any"
        if idx.isdigit() and int(idx):
            try:
                name = socket.if_indextoname(int(idx))
            except OSError:  # gone, or a journal replayed on another host
                name = f"ifindex {idx}"
        proto = int(ev.get("port", 0))
        return addr, f"link:{idx}:{proto:#06x}", f"link {name} (ethertype {proto:#06x})"

    def learnt_outside_allowlist(self, ctx: ChannelContext) -> list[dict[str, Any]]:
        """What the baseline made allowed that no allowlist does, for a signed record (no alert).

        Why: a destination the agent connected to during its baseline is allowed afterwards
        (``allow_baseline_destinations``), so a connection an attacker opens then and uses later
        (red-team round 6, ``g1r6_baseline_held_socket``) raises nothing by itself.  It must not
        be learnt without a trace: the sensor signs these into the certificate chain when the
        baseline ends (``BASELINE_LEARNT``), where an operator reviews them and either accepts
        them (``h7 accept``, ``l4_allow``) or runs with ``allow_baseline_destinations = false``
        (every destination outside the allowlist alerts, during the baseline too).  The agent's
        own loopback listeners are not egress and are left out.
        """
        out = []
        for key, d in self.learnt_unlisted.items():
            if d.get("direction") == "inbound" or d.get("protocol", TCP) != TCP:
                out.append({"key": key, **d})  # a client the agent served, or not TCP: no own listener
                continue
            host, _, port = str(d["destination"]).rpartition(":")
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                continue
            if port.isdigit() and self._own_listener(ip, int(port), ctx):
                continue
            out.append({"key": key, **d})
        return out

    def learn(self, batch: Batch, ctx: ChannelContext) -> None:
        self._read_pre_accepted(ctx)
        if self.settings.allow_baseline_destinations:
            for ev in batch.events:
                pre = self._reply_before_attach(ev)
                d = self._dest(ev) if pre is None else None
                if d is not None:
                    proto = event_protocol(ev)
                    key = self._baseline_key(*d, proto=proto)
                    self.baseline_dests.add(key)
                    if (
                        key not in self.learnt_unlisted
                        and len(self.learnt_unlisted) < 256
                        and not any(r.matches(d[0], d[1], self.eph, proto) for r in self.rules)
                    ):
                        self.learnt_unlisted[key] = {
                            "destination": f"{d[0]}:{d[1]}",
                            "protocol": proto,
                            "learnt": _learnt_text(key),
                            "pid": int(ev.get("pid", 0)),
                            "comm": str(ev.get("comm", "")),
                            "ts_ns": int(ev.get("ts_ns", 0)),
                        }
                elif (p := self._peer(ev) if pre is None else pre[0]) is not None:
                    lport = int(ev.get("lport", 0)) if pre is None else pre[1]
                    key = f"{lport}|{self._baseline_key(*p)}"
                    self.baseline_peers.add(key)
                    lkey = "inbound|" + key
                    if (
                        lkey not in self.learnt_unlisted
                        and len(self.learnt_unlisted) < 256
                        and not any(r.matches(p[0], p[1], self.eph) for r in self.rules)
                    ):
                        self.learnt_unlisted[lkey] = {
                            "destination": f"{p[0]}:{p[1]}",
                            "learnt": _learnt_text(self._baseline_key(*p), lport),
                            "direction": "inbound",
                            "local_port": lport,
                            "pid": int(ev.get("pid", 0)),
                            "comm": str(ev.get("comm", "")),
                            "ts_ns": int(ev.get("ts_ns", 0)),
                        }
                elif ev.get("type") == "net" and (lk := self._link(ev)) is not None:
                    self.baseline_dests.add(lk[1])
        self._rates.append(self._batch_rates(batch, ctx))

    def _verdict(self, ev: Event, ctx: ChannelContext) -> Any:
        """None (not a destination, allowed, or the agent's own listener) or (addr, key, dest).

        The allowlist, the baseline's destinations and the accepts only change
        at the end of the baseline and on an accept (both clear the cache), so
        a destination used again costs one dict lookup.  Whether the agent
        listens on it is NOT cached here: that changes with every listen and
        close, and a port the agent closed may be someone else's next.
        """
        proto = event_protocol(ev)
        ck = (ev.get("family"), str(ev.get("addr", "")), int(ev.get("port", 0)), proto)
        v = self._verdicts.get(ck, self)
        if v is self:
            d = self._dest(ev)
            if d is None:
                v = None
            else:
                ip, port = d
                a = str(ip)
                if self.allowed(ip, port, a, proto=proto) is not None:
                    v = None
                else:
                    v = (a, dest_key(ip, port, self.eph, a, proto), _dest_text(ip, port, proto, a), ip, port)
            if len(self._verdicts) >= 65536:
                self._verdicts.clear()
            self._verdicts[ck] = v
        # the agent's listeners are TCP: a datagram to one's port is not that server
        if v is None or (proto == TCP and self._own_listener(v[3], v[4], ctx)):
            return None
        return v[:3]

    def _on_listen(self, ev: Event) -> None:
        """Keep the agent's listeners as the kernel reports them (stream order: a listen
        precedes every connect it accepts, an unlisten follows every one it accepted)."""
        self.listens_seen += 1
        ino = int(ev.get("ino", 0))
        self._unlisten(ino)  # an unlisten, or the same inode again (its close was lost)
        if ev.get("op") != "listen":
            return
        try:
            ip = ipaddress.ip_address(str(ev.get("addr", "")))
        except ValueError:
            return
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        port = int(ev.get("port", 0))
        if port == 0:
            # listen() without bind: the kernel picks the port after the state change, so
            # the event cannot name it; only /proc can (cached "not own" answers are stale)
            self._proc_not_own.clear()
            return
        if len(self._listening) >= 65536:  # bounded; /proc still answers for the rest
            self._proc_not_own.clear()
            return
        key = (None if ip.is_unspecified else ip, port)
        self._listening[ino] = key
        self._listen_count[key] = self._listen_count.get(key, 0) + 1

    def _unlisten(self, ino: int) -> None:
        key = self._listening.pop(ino, None)
        if key is None:
            return
        n = self._listen_count.get(key, 0) - 1
        if n > 0:
            self._listen_count[key] = n
        else:
            self._listen_count.pop(key, None)

    def _own_listener(self, ip: IPAddress, port: int, ctx: ChannelContext) -> bool:
        """A loopback destination the agent itself listens on.

        First the listeners the kernel reported (decided in stream order, so a
        server closed before this batch is judged still counts for connects made
        while it listened, and a port it closed is not the agent's any more); then,
        in the live sensor only, /proc for listeners opened before the sensor
        attached (no listen event exists for them).
        """
        if not (self.settings.allow_own_listeners and ip.is_loopback):
            return False
        if (ip, port) in self._listen_count or (None, port) in self._listen_count:
            return self._note_own(ip, port)
        if not (ctx.proc.enabled and ctx.info) or (ip, port) in self._proc_not_own:
            return False
        if self._listeners is None:
            self._listeners = ListenerCache(ctx.proc.root)
        if self._listeners.owns(ctx.info.root_pid, ip, port):
            return self._note_own(ip, port)
        if len(self._proc_not_own) >= 65536:
            self._proc_not_own.clear()
        self._proc_not_own.add((ip, port))
        return False

    def _note_own(self, ip: IPAddress, port: int) -> bool:
        name = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
        if len(self.own_listeners) < 64 and name not in self.own_listeners:
            self.own_listeners.append(name)
        return True

    def on_events(self, events: list[Event], ctx: ChannelContext) -> list[Alert]:
        out: list[Alert] = []
        learning = ctx.phase == PHASE_BASELINE
        self._read_pre_accepted(ctx)
        for ev in events:
            if ev.get("type") != "net":
                continue
            if ev.get("op") == FILTER_OP:
                out.append(self._filter_changed(ctx, ev))  # in every phase: no baseline excuses it
                continue
            if ev.get("op") in LISTEN_OPS:
                self._on_listen(ev)  # in every phase: a baseline's server is fetched from later
                continue
            link = self._link(ev)
            if link is None and ev.get("family") not in ("inet", "inet6"):
                continue
            pre = self._reply_before_attach(ev)
            if ev.get("inbound") or pre is not None:
                if pre is None:
                    peer = self._peer(ev)
                    if peer is None:
                        self.inbound_seen += 1  # a reply to the agent's own connect: not egress
                        continue
                    lport = int(ev.get("lport", 0))
                else:
                    # a reply on a connection accepted before the hooks were live: the kernel
                    # could not mark it, /proc did (its peer is the client, not a destination)
                    peer, lport = pre
                    self.replies_before_attach += 1
                if self._own_client(*peer, lport, ctx):
                    self.inbound_seen += 1  # the agent's own connection from before the sensor attached
                    self.own_clients_by_proc += 1
                    continue
                self.inbound_peers_seen += 1
                self.checked += 1
                if learning and self.settings.allow_baseline_destinations:
                    continue  # learn() records the peer
                pv = self._peer_verdict(*peer, lport)
                if pv is not None:
                    out.append(self._unknown(ctx, ev, pv, "inbound", lport, pre is not None))
                continue
            self.checked += 1
            if link is not None:
                if self.settings.allow_baseline_destinations and (learning or link[1] in self.baseline_dests):
                    continue  # the agent's own link-level traffic during the baseline (learn() keeps it)
                v: Any = link
            elif learning:
                if self.settings.allow_baseline_destinations:
                    continue  # the baseline defines what is known; learn() records it
                d = self._dest(ev)
                proto = event_protocol(ev)
                if d is None or self.allowed(*d, proto=proto) is not None:
                    continue
                ip, port = d
                v = (str(ip), dest_key(ip, port, self.eph, proto=proto), _dest_text(ip, port, proto))
            else:
                v = self._verdict(ev, ctx)
                if v is None:
                    continue
            out.append(self._unknown(ctx, ev, v, "outbound"))
        return out

    def _read_pre_accepted(self, ctx: ChannelContext) -> None:
        """Live, once per agent, at its first batch: the clients it accepted before the hooks
        were live (:func:`h7.detect.listeners.accepted_clients`).  A connection accepted later is
        marked by the kernel; one accepted earlier that still sends later is alive now."""
        if self._pre_accepted is not None or not (ctx.proc.enabled and ctx.info):
            return
        try:
            self._pre_accepted = accepted_clients(ctx.info.root_pid, ctx.proc.root)
        except OSError:
            self._pre_accepted = {}

    def _reply_before_attach(self, ev: Event) -> tuple[tuple[IPAddress, int], int] | None:
        """(the client, the agent's listening port) if ``ev`` is a send on a connection the agent
        accepted before the sensor's hooks were live (the kernel reported it as a send to the
        client's address and port), else None."""
        if not self._pre_accepted or ev.get("type") != "net" or ev.get("inbound"):
            return None
        if not ev.get("from_socket") or ev.get("op") == "connect" or ev.get("op") in NOT_FLOW_OPS:
            return None
        if ev.get("family") not in ("inet", "inet6"):
            return None
        d = self._addr(ev)
        lport = None if d is None else self._pre_accepted.get(d)
        return None if d is None or lport is None else (d, lport)

    def _own_client(self, ip: IPAddress, port: int, lport: int, ctx: ChannelContext) -> bool:
        """Live only: the loopback client is a socket of the agent's own tree that the kernel
        could not match (connected before the sensor attached); see listeners.own_client."""
        if not (ip.is_loopback and ctx.proc.enabled and ctx.info):
            return False
        if self._own_clients is None:
            self._own_clients = OwnClients(ctx.proc.root)
        return self._own_clients.owns(ctx.info.root_pid, ip, port, lport)

    def _peer_verdict(self, ip: IPAddress, port: int, lport: int) -> tuple[str, str, str] | None:
        """None if the client of a connection accepted on ``lport`` is allowed, else (addr, key, dest)."""
        a = str(ip)
        if self.allowed(ip, port, a, lport=lport) is not None:
            return None
        return a, dest_key(ip, port, self.eph, a), f"[{a}]:{port}" if ip.version == 6 else f"{a}:{port}"

    def _filter_changed(self, ctx: ChannelContext, ev: Event) -> Alert:
        """EGRESS_FILTER_CHANGED: a monitored process changed the packet filter of its network
        namespace (an nftables batch, an x_tables replace).

        Why L4 certifies the act and not the packets: every egress hook reads a connect's or a
        send's address before the netfilter hooks run, so a DNAT rule (red-team round 9's
        ``g1r9_nft_dnat_allowed_api``) sends the packets of an allowed connect elsewhere and no
        destination L4 judges is wrong yet.  Reading the post-NAT address at transmit would cost
        every packet of the host; the change itself is rare and is made by a monitored task in
        its own syscall.  One certificate per (network namespace, interface): repeated changes
        fold.  A failed attempt (no CAP_NET_ADMIN) is reported too: sys_enter sees the try.
        """
        self.filter_changes += 1
        fam = str(ev.get("family", ""))
        what = int(ev.get("port", 0))
        netns = int(ev.get("netns", 0))
        if fam == "netlink":
            iface = "nftables"
            detail = _NFT_MSGS.get(what & 0xFF, f"type {what:#x}") if what >> 8 == 10 else "unread"
        else:
            iface = "x_tables"
            detail = _XT_OPTS.get((fam, what), f"optname {what}")
        evidence: dict[str, Any] = {
            "interface": iface,
            "first_change": detail,
            "family": fam,
            "netns": netns,
            "pid": int(ev.get("pid", 0)),
            "comm": ev.get("comm", ""),
            "fd": int(ev.get("fd", -1)),
            "hook": ev.get("hook", "tp_btf/sys_enter"),
            "why": "egress hooks read the address before NAT: a rule can send an allowed connect elsewhere",
        }
        return ctx.alert(
            "L4",
            "EGRESS_FILTER_CHANGED",
            int(ev.get("ts_ns", 0)),
            divergence=1.0,
            threshold=1.0,
            key=f"filter:{netns}:{iface}",
            evidence=evidence,
        )

    def _unknown(
        self,
        ctx: ChannelContext,
        ev: Event,
        v: tuple[str, str, str],
        direction: str,
        lport: int = 0,
        before_attach: bool = False,
    ) -> Alert:
        """One UNKNOWN_DESTINATION; ``direction`` "inbound": a reply to a client outside the agent
        (accepted on ``lport``; ``before_attach``: accepted before the hooks, found in /proc)."""
        addr, key, dest = v
        self.unknown_seen += 1
        evidence: dict[str, Any] = {
            "destination": dest,
            "destination_key": key,
            "addr": addr,
            "port": int(ev.get("port", 0)),
            "family": ev.get("family"),
            "protocol": event_protocol(ev) if ev.get("family") in ("inet", "inet6") else None,
            "op": ev.get("op"),
            "direction": direction,
            "pid": int(ev.get("pid", 0)),
            "comm": ev.get("comm", ""),
            "bytes": int(ev.get("bytes", 0)),
            "from_socket": bool(ev.get("from_socket", False)),
            "hook": ev.get("hook", "tp_btf/sys_enter"),
            "allowlist": [r.text for r in self.rules],
            "baseline_destinations": len(self.baseline_dests),
        }
        if ev.get("ip_header"):
            # a raw IP_HDRINCL packet: where its own header sends it, whatever the sockaddr said
            # (the unspecified address: the header could not be read)
            evidence["ip_header"] = True
        if direction == "inbound":
            evidence["local_port"] = lport  # the agent's listener it was accepted on
            if before_attach:
                evidence["accepted_before_attach"] = True
            evidence["baseline_peers"] = len(self.baseline_peers)
        return ctx.alert(
            "L4",
            "UNKNOWN_DESTINATION",
            int(ev.get("ts_ns", 0)),
            divergence=1.0,
            threshold=1.0,
            key=key,
            evidence=evidence,
        )

    # -- rates ----------------------------------------------------------
    @staticmethod
    def _batch_rates(batch: Batch, ctx: ChannelContext) -> np.ndarray:
        secs = max((batch.t1_ns - batch.t0_ns) / NS_PER_S, 1e-3)
        s = batch.stats.get(ctx.agent)
        if s is None:
            return np.zeros(len(RATE_METRICS))
        return np.array([float(s[m]) for m in RATE_METRICS]) / secs

    @staticmethod
    def _divergence(rates: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """Rate over reference rate, per metric (both with the prior): "times the baseline"."""
        return (rates + RATE_PRIOR) / (ref + RATE_PRIOR)

    def finish_baseline(self, ctx: ChannelContext) -> None:
        for _ in self.finish_baseline_deferred(ctx) or ():
            pass

    def finish_baseline_deferred(self, ctx: ChannelContext) -> Iterator[None] | None:
        """The rate model and per-batch threshold now; each metric's CUSUM a step (``_finish_steps``).

        Nothing on the immediate path (destinations, the allowlist) waits
        for the CUSUMs: they judge batches only.
        """
        steps = self._finish_steps(ctx)
        try:
            next(steps)
        except StopIteration:
            return None  # no rates learnt, or no long window: nothing costly left
        return steps

    def _finish_steps(self, ctx: ChannelContext) -> Iterator[None]:
        """The end of L4's baseline in its old order; a ``yield`` before each CUSUM simulation."""
        Channel.finish_baseline(self, ctx)
        self._verdicts.clear()
        override = self.config.threshold_override("L4", "NET_EGRESS_BURST")
        floor = self.config.floor("L4", "NET_EGRESS_BURST", BURST_FLOOR)
        if not self._rates:
            self.cal = calibrate_threshold(
                [], floor=floor, budget=self.config.false_alarm_budget, override=override
            )
            return
        r = np.vstack(self._rates)
        n = r.shape[0]
        self.mean_rate = r.mean(axis=0)
        if n >= 2:
            loo_ref = (r.sum(axis=0)[None, :] - r) / (n - 1)  # mean of the others, per batch
            samples = self._divergence(r, loo_ref).max(axis=1)
        else:
            samples = np.zeros(0)
        self.cal = calibrate_threshold(
            samples, floor=floor, budget=self.config.false_alarm_budget, override=override
        )
        if self.settings.window and n >= 2:
            # Per metric: log "times the baseline" of each baseline batch against the others.
            logs = np.log(self._divergence(r, loo_ref))
            cap = float(np.log(max(self.cal.threshold, 1.0 + 1e-9)))
            self._rates = []
            cusums: dict[str, Cusum] = {}
            for i, m in enumerate(RATE_METRICS):
                yield
                cusums[m] = calibrate_cusum(
                    logs[:, i],
                    budget=self.config.false_alarm_budget / len(RATE_METRICS),
                    ref_sigmas=self.config.window_ref_sigmas,
                    min_sigma=self.settings.window_min_sigma,
                    single_cap=cap,
                    override=self.settings.window_h,
                    # three per-batch excesses, not two: an agent's bigger tasks come in
                    # clusters of busy seconds its 30-s baseline may not have seen
                    cap_batches=3,
                )
            self.cusums = cusums
        self._rates = []

    def judge(self, batch: Batch, ctx: ChannelContext) -> list[Alert]:
        rates = self._batch_rates(batch, ctx)
        per = self._divergence(rates[None, :], self.mean_rate)[0]
        worst = int(np.argmax(per))
        d = float(per[worst])
        self.last_divergence = d
        # The long window sees what single batches cannot; a batch the per-batch judge
        # reports is reported once, by it (both use key "egress", so repeats fold).
        out = self._judge_window(batch, ctx, rates, per)
        self._over = self._over + 1 if d > self.cal.threshold else 0
        if out:
            self._over = 0
        # A 30-s baseline under-samples the benign tail (make eval's false bursts were single
        # batches just over the threshold): the per-batch judge wants ``persist`` batches in a
        # row; one batch far over it has already passed the long window's h above.
        if out or not (self._over >= max(1, self.settings.persist) or self._unmistakable(d)):
            return out
        over, self._over = self._over, 0
        for c in self.cusums.values():
            c.reset()
        self._window_rates.clear()
        metric = RATE_METRICS[worst]
        return [
            ctx.alert(
                "L4",
                "NET_EGRESS_BURST",
                int(batch.t1_ns),
                divergence=d,
                threshold=self.cal.threshold,
                key="egress",
                evidence={
                    "metric": metric,
                    "batches_over_threshold": over,
                    "window_ns": [int(batch.t0_ns), int(batch.t1_ns)],
                    "rate_per_s": {m: round(float(v), 3) for m, v in zip(RATE_METRICS, rates, strict=True)},
                    "baseline_mean_per_s": {
                        m: round(float(v), 3) for m, v in zip(RATE_METRICS, self.mean_rate, strict=True)
                    },
                    "times_baseline": {m: round(float(v), 3) for m, v in zip(RATE_METRICS, per, strict=True)},
                },
            ),
        ]

    def _unmistakable(self, d: float) -> bool:
        """One burst so far over the threshold that it needs no second batch (in log ratio)."""
        if not d > self.cal.threshold:
            return False
        if self.settings.alone_excess <= 0:
            return True
        med = np.log(max(self.cal.sample_median, 1e-9))
        thr = np.log(max(self.cal.threshold, 1e-9))
        return bool(np.log(d) - med >= self.settings.alone_excess * (thr - med))

    def _judge_window(
        self, batch: Batch, ctx: ChannelContext, rates: np.ndarray, per: np.ndarray
    ) -> list[Alert]:
        """Feed each metric's log ratio to its CUSUM; one alert if any passes its h."""
        if not self.cusums:
            return []
        self._window_rates.append(rates)
        fired = [m for i, m in enumerate(RATE_METRICS) if self.cusums[m].update(float(np.log(per[i])))]
        runs = max(cu.run for cu in self.cusums.values())
        del self._window_rates[: max(0, len(self._window_rates) - max(runs, 1))]
        if not fired:
            return []
        m = max(fired, key=lambda k: self.cusums[k].s / self.cusums[k].h)
        cu = self.cusums[m]
        span = np.vstack(self._window_rates[-max(cu.run, 1) :])
        mean = span.mean(axis=0)
        alert = ctx.alert(
            "L4",
            "NET_EGRESS_BURST",
            int(batch.t1_ns),
            divergence=cu.s,
            threshold=cu.h,
            key="egress",
            evidence={
                "window": "cusum",
                "metric": m,
                "cusum": round(cu.s, 5),
                "h": round(cu.h, 5),
                "reference_times_baseline": round(float(np.exp(cu.ref)), 4),
                "batches_accumulating": cu.run,
                "window_ns": [int(batch.t1_ns) - cu.run * self.config.batch_ns, int(batch.t1_ns)],
                "rate_per_s": {k: round(float(v), 3) for k, v in zip(RATE_METRICS, rates, strict=True)},
                "window_mean_rate_per_s": {
                    k: round(float(v), 3) for k, v in zip(RATE_METRICS, mean, strict=True)
                },
                "baseline_mean_per_s": {
                    k: round(float(v), 3) for k, v in zip(RATE_METRICS, self.mean_rate, strict=True)
                },
                "window_times_baseline": {
                    k: round(float(v), 3)
                    for k, v in zip(
                        RATE_METRICS, self._divergence(mean[None, :], self.mean_rate)[0], strict=True
                    )
                },
                "per_batch_threshold": self.cal.threshold,
            },
        )
        for c in self.cusums.values():
            c.reset()
        self._window_rates.clear()
        return [alert]

    def status(self) -> dict[str, Any]:
        return {
            "state": "monitoring" if self.baselined else "learning",
            "window": {m: c.status() for m, c in self.cusums.items()},
            "divergence": self.last_divergence,
            "threshold": self.cal.threshold,
            "calibration": self.cal.to_dict(),
            "baseline_destinations": len(self.baseline_dests),
            "destinations_checked": self.checked,
            "unknown_destinations": self.unknown_seen,
            "filter_changes": self.filter_changes,
            "inbound_sends_not_egress": self.inbound_seen,
            "inbound_peer_sends": self.inbound_peers_seen,
            "inbound_own_found_in_proc": self.own_clients_by_proc,
            "replies_accepted_before_attach": self.replies_before_attach,
            "baseline_inbound_peers": len(self.baseline_peers),
            "own_listeners": list(self.own_listeners),
            "listen_events": self.listens_seen,
            "listening_now": len(self._listening),
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "baseline_dests": sorted(self.baseline_dests),
            "baseline_peers": sorted(self.baseline_peers),
            "per_protocol": True,  # baseline_dests: "net|port" is TCP, "net|port|proto" the rest
            "ephemeral_ports": list(self.eph),
            "mean_rate": [float(x) for x in self.mean_rate],
            "cal": self.cal.to_dict(),
            "cusums": {m: c.to_state() for m, c in self.cusums.items()},
        }

    def from_state(self, state: dict[str, Any]) -> None:
        self.baseline_dests = {str(x) for x in state.get("baseline_dests", [])}
        if not state.get("per_protocol"):
            # saved before keys named their protocol: each key was learnt from TCP or UDP
            # traffic alike, so it allows both as it did (no other protocol: save it again)
            self.baseline_dests |= {
                f"{k}|udp" for k in self.baseline_dests if k.count("|") == 1 and not k.startswith("link:")
            }
        self.baseline_peers = {str(x) for x in state.get("baseline_peers", [])}
        self.mean_rate = np.array([float(x) for x in state["mean_rate"]])
        self.cal = Calibration.from_dict(state["cal"])
        self._verdicts.clear()
        cus = state.get("cusums") or {}
        self.cusums = {str(m): Cusum.from_state(c) for m, c in cus.items()} if self.settings.window else {}
        override = self.config.threshold_override("L4", "NET_EGRESS_BURST")
        if override is not None:
            self.cal = Calibration(override, "override")
        self.baselined = True


#: nftables message types (NFT_MSG_*, include/uapi/linux/netfilter/nf_tables.h): a batch's first change
_NFT_MSGS = {
    0: "NEWTABLE", 2: "DELTABLE", 3: "NEWCHAIN", 5: "DELCHAIN", 6: "NEWRULE", 8: "DELRULE",
    9: "NEWSET", 11: "DELSET", 12: "NEWSETELEM", 14: "DELSETELEM", 15: "NEWGEN", 18: "NEWOBJ",
    20: "DELOBJ", 22: "NEWFLOWTABLE", 24: "DELFLOWTABLE", 26: "DESTROYTABLE", 27: "DESTROYCHAIN",
    28: "DESTROYRULE", 29: "DESTROYSET", 30: "DESTROYSETELEM", 31: "DESTROYOBJ", 32: "DESTROYFLOWTABLE",
}  # fmt: skip
#: x_tables setsockopt names by (family, optname)
_XT_OPTS = {
    ("inet", 64): "IPT_SO_SET_REPLACE",
    ("inet6", 64): "IP6T_SO_SET_REPLACE",
    ("inet", 96): "ARPT_SO_SET_REPLACE",
    ("inet", 128): "EBT_SO_SET_ENTRIES",
}

SPEC = register(
    ChannelSpec(
        name="L4",
        summary="egress destinations against an allowlist, and egress call-rate bursts; never payloads",
        codes=(
            AlertCode(
                "UNKNOWN_DESTINATION", "medium", "Agent connected to a destination outside its baseline"
            ),
            AlertCode("NET_EGRESS_BURST", "high", "Agent network egress burst"),
            AlertCode("EGRESS_FILTER_CHANGED", "high", "Agent changed the packet filter its egress passes"),
        ),
        settings=L4Settings,
        factory=EgressChannel,
        # older files set it at the top of [detect]
        aliases=(("allow_baseline_destinations", "allow_baseline_destinations"),),
    )
)
