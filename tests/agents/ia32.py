"""The ia32 entry (``int $0x80``) of a 64-bit x86_64 process, from Python, with no compiler.

Shared by tests/test_sensor_gaps.py (the test process's own ia32 calls) and gap_agent.py (the
watched agent's): an attacker with native code in the agent can make 32-bit syscalls, whose
numbers and registers differ from x86_64's, so each gap test that claims the ia32 entry makes
real ones.  Arguments are 32 bits, pointers included: ``low_buffer`` places data where a 32-bit
pointer can name it.  Stdlib only.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from typing import Any

#: mmap(2)'s MAP_32BIT (x86_64): a mapping in the first 2 GiB
MAP_32BIT = 0x40
#: push rbx; mov eax, edi; mov ebx, esi; mov r10d, ecx; mov ecx, edx; mov edx, r10d;
#: mov esi, r8d; mov edi, r9d; int 0x80; pop rbx; ret
CODE = bytes.fromhex("53 89 f8 89 f3 41 89 ca 89 d1 44 89 d2 44 89 c6 44 89 cf cd 80 5b c3")
I386_GETPID = 20


def int80() -> Any | None:
    """``syscall(nr, a, b, c, d, e)`` through the ia32 entry as a C function; None when this is
    not x86_64 or the kernel has no IA32 emulation."""
    if os.uname().machine != "x86_64":
        return None
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(CODE)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
    fn = ctypes.CFUNCTYPE(ctypes.c_int, *[ctypes.c_int] * 6)(addr)
    fn._page = page  # type: ignore[attr-defined]  # keep the code mapped as long as the function lives
    if fn(I386_GETPID, 0, 0, 0, 0, 0) != os.getpid():
        return None
    return fn


def low_buffer(data: bytes) -> tuple[mmap.mmap, int]:
    """``data`` in a mapping below 2 GiB, and its address (keep the mapping while it is used)."""
    size = max(mmap.PAGESIZE, len(data))
    m = mmap.mmap(
        -1,
        size,
        flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_32BIT,
        prot=mmap.PROT_READ | mmap.PROT_WRITE,
    )
    m.write(data)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    assert addr < 1 << 32, hex(addr)
    return m, addr
