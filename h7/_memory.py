"""Keep the long-running sensor's resident memory at its working set, not its peak.

numpy arrays of a busy batch are megabytes.  glibc raises its mmap threshold
after the first such array is freed (up to 32 MB), so later ones come from the
heap, and freed heap memory in the middle of it is never handed back: the
sensor's RSS would settle at the largest burst it ever saw.  A fixed mmap
threshold keeps big arrays in their own mappings (returned on free), and a
periodic ``malloc_trim`` gives back what small allocations left free.
Measured on the fork/exec workload of ``make bench``: see docs/performance.md.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("h7.memory")

_M_MMAP_THRESHOLD = -3  # <malloc.h>
_MMAP_THRESHOLD_BYTES = 256 * 1024

_libc: ctypes.CDLL | None = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            lib.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            return None  # not glibc (musl): nothing to tune
        _libc = lib
    return _libc


def tune_allocator() -> None:
    """Fix glibc's mmap threshold (call once, early)."""
    lib = _glibc()
    if lib is not None and lib.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES) != 1:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused")


def release_free_memory() -> None:
    """Return free heap pages to the kernel (cheap enough once per batch)."""
    lib = _glibc()
    if lib is not None:
        lib.malloc_trim(0)
