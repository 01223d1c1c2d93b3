"""A command-driven agent for tests/test_sensor_gaps.py: one stdin line in, one stdout line out.

It does, on request, what issue 13's attacks do from inside an agent (io_uring
egress from native code or a child, sendmmsg to mixed destinations) and what
a benign agent with an in-process server does (serve HTTP, fetch HTTP).  It
also exposes a buffer whose address the test uses to tamper with its memory.
Stdlib only; every command is bounded.
"""

from __future__ import annotations

import ctypes
import http.server
import os
import socket
import struct
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import ia32  # tests/agents/ia32.py (this script's directory is on sys.path)

libc = ctypes.CDLL(None, use_errno=True)
BUF = ctypes.create_string_buffer(b"h7-untouched".ljust(64, b"."), 64)
KEEP: list[object] = []
#: the tests' time scale (inherited from the test run): bounds of the commands run for a test stretch by it
TIMESCALE = float(os.environ.get("H7_TEST_TIMESCALE") or 1)


class MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", MsgHdr), ("msg_len", ctypes.c_uint)]


class IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


def sockaddr_in(ip: str, port: int) -> ctypes.Array[ctypes.c_char]:
    raw = (
        socket.AF_INET.to_bytes(2, sys.byteorder) + port.to_bytes(2, "big") + socket.inet_aton(ip) + bytes(8)
    )
    return ctypes.create_string_buffer(raw, len(raw))


NR_IO_SETUP, NR_IO_DESTROY, NR_IO_GETEVENTS, NR_IO_SUBMIT, NR_PWRITEV2 = 206, 207, 208, 209, 328
IOCB_CMD_PWRITE = 1


class Iocb(ctypes.Structure):
    _fields_ = [  # linux/aio_abi.h, little-endian x86_64
        ("aio_data", ctypes.c_uint64),
        ("aio_key", ctypes.c_uint32),
        ("aio_rw_flags", ctypes.c_uint32),
        ("aio_lio_opcode", ctypes.c_uint16),
        ("aio_reqprio", ctypes.c_int16),
        ("aio_fildes", ctypes.c_uint32),
        ("aio_buf", ctypes.c_uint64),
        ("aio_nbytes", ctypes.c_uint64),
        ("aio_offset", ctypes.c_int64),
        ("aio_reserved2", ctypes.c_uint64),
        ("aio_flags", ctypes.c_uint32),
        ("aio_resfd", ctypes.c_uint32),
    ]


def aio_write(fds: list[int], data: bytes) -> str:
    """One io_submit of an IOCB_CMD_PWRITE per fd, in order; waits for all.  Returns the results."""
    c = ctypes.c_long
    ctx = ctypes.c_ulong(0)
    if libc.syscall(c(NR_IO_SETUP), c(len(fds)), ctypes.byref(ctx)) < 0:
        return f"io_setup errno {ctypes.get_errno()}"
    buf = ctypes.create_string_buffer(data, len(data))
    cbs = [Iocb(aio_lio_opcode=IOCB_CMD_PWRITE, aio_fildes=fd, aio_buf=ctypes.addressof(buf),
                aio_nbytes=len(data)) for fd in fds]  # fmt: skip
    ptrs = (ctypes.POINTER(Iocb) * len(fds))(*[ctypes.pointer(cb) for cb in cbs])
    events = (ctypes.c_int64 * (4 * len(fds)))()
    try:
        sub = libc.syscall(c(NR_IO_SUBMIT), ctx, c(len(fds)), ptrs)
        got = libc.syscall(c(NR_IO_GETEVENTS), ctx, c(sub), c(sub), events, None) if sub > 0 else -1
    finally:
        libc.syscall(c(NR_IO_DESTROY), ctx)
    return f"{sub} {got} " + " ".join(str(events[4 * i + 2]) for i in range(max(got, 0)))


I386_WRITE, I386_SOCKETCALL, SYS_SEND = 4, 102, 9


def int80_socket_write(fd: int, how: str, data: bytes) -> str | int:
    """write(2) (int80write) or socketcall(SYS_SEND) (int80send) of data on fd through the ia32
    entry; "no-ia32" where there is none.  Buffers below 2 GiB: ia32 pointers are 32 bits."""
    call = ia32.int80()
    if call is None:
        return "no-ia32"
    buf, addr = ia32.low_buffer(data)
    args, aaddr = ia32.low_buffer(struct.pack("<4I", fd, addr, len(data), 0))  # fd, buf, len, flags
    try:
        if how == "int80write":
            return int(call(I386_WRITE, fd, addr, len(data), 0, 0))
        return int(call(I386_SOCKETCALL, SYS_SEND, aaddr, 0, 0, 0))
    finally:
        args.close()
        buf.close()


def sendmmsg(ip: str, port0: int, port1: int, n: int) -> int:
    """Message 0 to port0, messages 1..n-1 to port1, in ONE sendmmsg call."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = ctypes.create_string_buffer(b"h7-mmsg", 7)
    iov = IoVec(ctypes.addressof(payload), 7)
    addrs = [sockaddr_in(ip, port0 if i == 0 else port1) for i in range(n)]
    msgs = (MMsgHdr * n)()
    for i in range(n):
        msgs[i].msg_hdr.msg_name = ctypes.addressof(addrs[i])
        msgs[i].msg_hdr.msg_namelen = 16
        msgs[i].msg_hdr.msg_iov = ctypes.addressof(iov)
        msgs[i].msg_hdr.msg_iovlen = 1
    sent = libc.sendmmsg(s.fileno(), msgs, n, 0)
    s.close()
    return int(sent)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"h7 docs\n" * 64
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def ipv4_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """A hand-built IPv4 header (checksummed) + UDP header (no checksum) + payload."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x4837, 0, 64, socket.IPPROTO_UDP, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )  # fmt: skip
    words = struct.unpack("!10H", ip)
    c = sum(words)
    c = (c & 0xFFFF) + (c >> 16)
    c = (c & 0xFFFF) + (c >> 16)
    return ip[:10] + struct.pack("!H", ~c & 0xFFFF) + ip[12:] + udp


def rawip(route: str, route_port: int, dst: str, dport: int, how: str) -> int:
    """One UDP datagram to dst:dport built by hand on an IPPROTO_RAW (IP_HDRINCL) socket whose
    sockaddr names route:route_port instead (the route; the port is ignored on raw sockets).
    how: sendto | sendmsg (header and payload in two iovecs) | write (a connected raw socket) |
    hdrincl_opt (sendto on an IPPROTO_UDP raw socket with IP_HDRINCL set by setsockopt)."""
    pkt = ipv4_udp(route, dst, 40007, dport, b"h7-raw-hdrincl")
    proto = socket.IPPROTO_UDP if how == "hdrincl_opt" else socket.IPPROTO_RAW
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, proto) as s:
        if how == "hdrincl_opt":  # a UDP raw socket told IP_HDRINCL: the kernel's flag, not the protocol
            s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            return s.sendto(pkt, (route, route_port))
        if how == "sendto":
            return s.sendto(pkt, (route, route_port))
        if how == "sendmsg":
            return s.sendmsg([pkt[:28], pkt[28:]], [], 0, (route, route_port))
        s.connect((route, route_port))
        return os.write(s.fileno(), pkt)


#: an IEEE "local experimental" ethertype: nothing on the host handles it, the frame is dropped
ETH_P_H7 = 0x88B5


def packet_send(ifname: str, kind: str, how: str, lib: str) -> int:
    """One frame on an AF_PACKET socket bound to ifname (SOCK_RAW: a whole Ethernet frame;
    SOCK_DGRAM: the kernel adds the header), sent with sendto(2) or an io_uring SEND."""
    raw = kind == "raw"
    payload = b"h7-packet-frame".ljust(46, b".")
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW if raw else socket.SOCK_DGRAM, 0) as s:
        if how == "uring":  # bound, then a SEND with no address: the link is the socket's
            s.bind((ifname, ETH_P_H7))
            data = (b"\0" * 12 + ETH_P_H7.to_bytes(2, "big") + payload) if raw else payload
            return int(ctypes.CDLL(lib).h7_uring_send_fd(s.fileno(), data, len(data), 0))
        if raw:
            return s.sendto(b"\0" * 12 + ETH_P_H7.to_bytes(2, "big") + payload, (ifname, ETH_P_H7))
        return s.sendto(payload, (ifname, ETH_P_H7, 0, 0, b"\0" * 6))


def send_on(s: socket.socket, how: str, data: bytes) -> int:
    """One addressless send on a connected socket: send(2) (sendto, no address) or write(2)."""
    return os.write(s.fileno(), data) if how == "write" else s.send(data)


def udp_reconnect(how: str, port1: int, port2: int, n: int) -> int:
    """n sends on a UDP socket connected to port1, then one after connecting it to port2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", port1))
        sent = sum(send_on(s, how, b"h7-conn1") for _ in range(n))
        s.connect(("127.0.0.1", port2))
        return sent + send_on(s, how, b"h7-conn2")


def serve_one_at_a_time(how: str, n: int) -> int:
    """A TCP server answering n connections in turn (accept, read, answer, close); its port.

    Each accepted socket takes the descriptor, and usually the struct file, its predecessor
    closed: the kernel's per-socket verdicts must not carry over.
    """
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(30 * TIMESCALE)

    def loop() -> None:
        with srv:
            for _ in range(n):
                try:
                    c, _ = srv.accept()
                except OSError:
                    return
                with c:
                    c.settimeout(10 * TIMESCALE)
                    c.recv(64)
                    send_on(c, how, b"h7-reply")

    threading.Thread(target=loop, daemon=True).start()
    return int(srv.getsockname()[1])


def xattr_fd(path: str) -> str:
    """getxattr of an ACL, fsetxattr/fgetxattr on an fd of PATH, then lsetxattr/lgetxattr on PATH
    (errnos kept: the kernel reports the calls whatever the filesystem answers)."""
    fd = os.open(path, os.O_RDONLY)
    errs = []
    calls: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = [
        (os.getxattr, (path, "system.posix_acl_access"), {}),  # what ls -l reads: not data, not reported
        (os.setxattr, (fd, "user.h7f", b"1"), {}),
        (os.getxattr, (fd, "user.h7f"), {}),
        (os.setxattr, (path, "user.h7l", b"1"), {"follow_symlinks": False}),
        (os.getxattr, (path, "user.h7l"), {"follow_symlinks": False}),
    ]
    for fn, args, kw in calls:
        try:
            fn(*args, **kw)
        except OSError as e:
            errs.append(e.errno)
    os.close(fd)
    return f"fd {fd} errnos {errs}"


def main() -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # an fd worth stealing
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        out: object = "ok"
        if cmd[0] == "addr":
            out = f"{ctypes.addressof(BUF)} {udp.fileno()} {os.getpid()}"
        elif cmd[0] == "read":
            out = BUF.raw[:12].decode("latin-1")
        elif cmd[0] == "uring_inproc":
            lib = ctypes.CDLL(cmd[1])
            out = lib.h7_uring_egress(cmd[2].encode(), int(cmd[3]), int(cmd[4]), int(cmd[5]))
        elif cmd[0] == "uring_unix":  # uring_unix LIB PATH: io_uring CONNECT + SEND on a unix socket
            out = ctypes.CDLL(cmd[1]).h7_uring_unix_send(cmd[2].encode(), b"h7-uring-unix", 13)
        elif cmd[0] == "uring_child":
            out = subprocess.run(cmd[1:6], timeout=60).returncode
        elif cmd[0] == "sendto":  # sendto ADDR PORT: one datagram from the agent's one UDP socket
            out = udp.sendto(b"h7-gap", (cmd[1], int(cmd[2])))
        elif cmd[0] == "udp_reconnect":  # udp_reconnect send|write PORT1 PORT2 N
            out = udp_reconnect(cmd[1], int(cmd[2]), int(cmd[3]), int(cmd[4]))
        elif cmd[0] == "serve_seq":  # serve_seq send|write N: a one-at-a-time TCP server; its port
            out = serve_one_at_a_time(cmd[1], int(cmd[2]))
        elif cmd[0] == "sendmmsg":
            out = sendmmsg(cmd[1], int(cmd[2]), int(cmd[3]), int(cmd[4]))
        elif cmd[0] == "serve":
            srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
            KEEP.append(srv)
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            out = srv.server_address[1]
        elif cmd[0] == "rawip":  # rawip ROUTE ROUTE_PORT DST DPORT sendto|sendmsg|write
            out = rawip(cmd[1], int(cmd[2]), cmd[3], int(cmd[4]), cmd[5])
        elif cmd[0] == "keep":  # keep PORT: connect to 127.0.0.1:PORT and hold the connection
            KEEP.append(socket.create_connection(("127.0.0.1", int(cmd[1])), timeout=30))
        elif cmd[0] == "ask":  # ask: one HTTP/1.0 request on the held connection; read to EOF, keep it
            held = next(k for k in reversed(KEEP) if isinstance(k, socket.socket))
            held.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            got = 0
            while chunk := held.recv(65536):
                got += len(chunk)
            out = got
        elif cmd[0] == "get":
            with urllib.request.urlopen(f"http://127.0.0.1:{int(cmd[1])}/", timeout=30) as r:
                out = r.status
        elif cmd[0] == "recv_write":  # a connected socket handed over SCM_RIGHTS, written like a file
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
                u.settimeout(30)
                u.connect(cmd[1])
                _, fds, _, _ = socket.recv_fds(u, 16, 1)
            if len(cmd) > 3 and cmd[2] == "uring":  # no syscall on it at all: one io_uring SEND
                ctypes.CDLL(cmd[3]).h7_uring_send_fd(fds[0], b"h7-uring-send", 13, 0)
            elif len(cmd) > 2 and cmd[2] == "sendfile":  # no write at all: the kernel copies a file in
                with open(sys.executable, "rb") as src:
                    os.sendfile(fds[0], src.fileno(), 0, 64)
            elif len(cmd) > 2 and cmd[2] == "aio":  # Linux AIO: a file's PWRITE first, then the socket's
                out = aio_write([os.open(os.devnull, os.O_WRONLY), fds[0]], b"h7-aio-written")
            elif len(cmd) > 2 and cmd[2] in ("int80write", "int80send"):  # the ia32 entry's write / send
                out = int80_socket_write(fds[0], cmd[2], b"h7-int80-out")
            elif len(cmd) > 2 and cmd[2] == "pwritev2":  # pwritev2 at offset -1: a socket's writev
                iov = (ctypes.c_char_p * 2)(b"h7-pwritev2", ctypes.c_char_p(11))
                out = libc.syscall(ctypes.c_long(NR_PWRITEV2), fds[0], iov, 1, ctypes.c_long(-1),
                                   ctypes.c_long(-1), 0)  # fmt: skip
            else:
                os.write(fds[0], b"h7-written")
            os.close(fds[0])
        elif cmd[0] == "packet":  # packet IFNAME raw|dgram sendto|uring LIB
            out = packet_send(cmd[1], cmd[2], cmd[3], cmd[4])
        elif cmd[0] == "uring_exec":  # uring_exec LIB PATH SRC: write SRC's bytes to PATH by io_uring, run it
            data = Path(cmd[3]).read_bytes()
            n = int(ctypes.CDLL(cmd[1]).h7_uring_write_file(cmd[2].encode(), data, ctypes.c_long(len(data))))
            if n != len(data):
                out = f"write {n}"
            else:
                r = subprocess.run([cmd[2]], capture_output=True, timeout=30, check=False)
                out = f"rc {r.returncode}"
        elif cmd[0] == "run":  # run PATH [ARG...]: its output kept off this protocol
            # bounded, x H7_TEST_TIMESCALE: gdb -p alone took over 30 s in a 1-vCPU TCG guest (session 12)
            r = subprocess.run(cmd[1:], capture_output=True, timeout=30 * TIMESCALE, check=False)
            out = f"rc {r.returncode}"
        elif cmd[0] == "copy":  # copy SRC DST: write SRC's bytes to DST (open, write, close)
            out = Path(cmd[2]).write_bytes(Path(cmd[1]).read_bytes())
        elif (
            cmd[0] == "split"
        ):  # split SRC N DIR: SRC's bytes as DIR/part0..N-1 and DIR/manifest (a chunked upload)
            data, n = Path(cmd[1]).read_bytes(), int(cmd[2])
            step = -(-len(data) // n)
            for i in range(n):
                Path(cmd[3], f"part{i}").write_bytes(data[i * step : (i + 1) * step])
            Path(cmd[3], "manifest").write_text(f"{n} parts, {len(data)} bytes\n")
            out = n
        elif cmd[0] == "creat":  # creat PATH: creat(2), the one create call that is no open*
            fd = libc.creat(cmd[1].encode(), 0o600)
            if fd < 0:
                out = f"errno {ctypes.get_errno()}"
            else:
                os.write(fd, b"#!/bin/sh\ntrue\n")
                os.close(fd)
        elif cmd[0] == "tmpfile_link":  # tmpfile_link DIR NEW: an unnamed O_TMPFILE file, linked in place
            fd = os.open(cmd[1], os.O_TMPFILE | os.O_WRONLY, 0o600)
            os.write(fd, b"#!/bin/sh\ntrue\n")
            # linkat(AT_FDCWD, "/proc/self/fd/N", AT_FDCWD, NEW, AT_SYMLINK_FOLLOW), as open(2) documents
            rc = libc.linkat(-100, f"/proc/self/fd/{fd}".encode(), -100, cmd[2].encode(), 0x400)
            os.close(fd)
            if rc != 0:
                out = f"errno {ctypes.get_errno()}"
        elif cmd[0] == "rename":  # rename STAGED NEW: written elsewhere, moved in place
            Path(cmd[1]).write_bytes(b"#!/bin/sh\ntrue\n")
            os.rename(cmd[1], cmd[2])
        elif cmd[0] == "log":  # log PATH: keep PATH open for appending (a log file); its fd
            fd = os.open(cmd[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            KEEP.append(fd)
            out = fd
        elif cmd[0] == "dgram":  # dgram PATH sendto|sendmsg|connect: one unix datagram to PATH
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as u:
                if cmd[2] == "sendto":
                    out = u.sendto(b"h7-dgram", cmd[1])
                elif cmd[2] == "sendmsg":
                    out = u.sendmsg([b"h7-dgram"], [], 0, cmd[1])
                else:
                    u.connect(cmd[1])
                    out = u.send(b"h7-dgram")
        elif cmd[0] == "xattr_child":  # xattr_child PATH: a child stores data in PATH's xattr, we read it
            code = "import os, sys; os.setxattr(sys.argv[1], 'user.h7', b'collected ' * 8)"
            r = subprocess.run([sys.executable, "-c", code, cmd[1]], capture_output=True, timeout=30)
            try:
                out = len(os.getxattr(cmd[1], "user.h7"))
            except OSError as e:  # a filesystem without user xattrs: the calls were made all the same
                out = f"rc {r.returncode} errno {e.errno}"
        elif cmd[0] == "xattr_fd":  # xattr_fd PATH: fsetxattr/fgetxattr on an fd, lsetxattr/lgetxattr
            out = xattr_fd(cmd[1])
        elif cmd[0] == "exit":
            break
        print(out, flush=True)


if __name__ == "__main__":
    main()
