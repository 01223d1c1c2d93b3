"""Flat exception types.  Each carries the process exit code the CLI uses.

One base class, a handful of leaves, no deep hierarchy: callers catch
``H7Error`` or one leaf, and ``h7`` prints ``h7: error: <message>`` on one
line and exits with ``exit_code``.
"""

from __future__ import annotations

import errno


class H7Error(Exception):
    """Base of every error H7 reports to an operator."""

    exit_code = 1


class UsageError(H7Error):
    """The operator asked for something impossible (unknown pid, bad option value)."""

    exit_code = 2


class PermissionDenied(H7Error):
    """Not root, or the kernel refused BPF (missing CAP_BPF / lockdown)."""

    exit_code = 2


class BPFError(H7Error):
    """libbpf or the kernel failed to open, load or attach a program.

    ``errno`` is the positive errno libbpf returned; ``program`` names the
    program that failed when it is known.
    """

    exit_code = 3

    def __init__(self, message: str, errno: int = 0, program: str | None = None) -> None:
        super().__init__(message)
        self.errno = errno
        self.program = program


class VerificationError(H7Error):
    """A .cal certificate or chain did not verify (bad signature, tampered, malformed)."""

    exit_code = 4


class DeliveryError(H7Error):
    """An alert could not be handed to the sinkhole or an output (spooled, never dropped)."""

    exit_code = 5


class StorageError(H7Error):
    """A durable write failed (full disk, read-only filesystem, unsafe permissions)."""

    exit_code = 6

    @classmethod
    def from_os(cls, what: str, path: object, e: OSError) -> StorageError:
        """``<what> <path>: <reason>``, marked "(disk full)" when it is: the one wording of a failed write."""
        hint = " (disk full)" if e.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        return cls(f"{what} {path}: {e.strerror or e}{hint}")
