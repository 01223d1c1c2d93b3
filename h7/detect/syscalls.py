"""Syscall numbers -> names, for readable syscall traces in alerts.

The tables are generated from the kernel's UAPI headers by
``_build/gen_syscalls.py`` into :mod:`h7.detect.syscall_table` (x86_64 and
arm64); numbers are ABI and never change.  On another architecture traces
carry ``nr`` only.
"""

from __future__ import annotations

import platform

from h7.detect.syscall_table import ARM64, X86_64

TABLES: dict[str, dict[int, str]] = {"x86_64": X86_64, "amd64": X86_64, "aarch64": ARM64, "arm64": ARM64}
_TABLE: dict[int, str] = TABLES.get(platform.machine(), {})
#: x86_64 names -> numbers: the synthetic journals (tests/journals) are x86_64 traces
NAME_TO_NR: dict[str, int] = {v: k for k, v in X86_64.items()}


def syscall_name(nr: int) -> str | None:
    """Name of syscall ``nr`` on this host's architecture, or None if unknown."""
    return _TABLE.get(int(nr))
