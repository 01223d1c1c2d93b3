"""The kernel's known-window filter, seen from userspace.

After an agent's baseline the detector knows which syscall windows it does
not need to see again (the common ones; see ``h7.detect.channels.l3_causal``).
Shipping those through the ring buffer would cost the agent a ring record
per syscall and the sensor a decode and a model lookup per syscall, for
nothing.  So userspace sets their bits in a Bloom filter the kernel reads
(``seq_bits``, two bits per window), and the kernel ships only syscalls whose
window misses it.

A Bloom filter answers "maybe known" for a few novel windows too (false
positives).  With k = 2 bits per window in 2^24 bits the rate is
(1 - e^(-2n/2^24))^2: 3.6e-5 for 50,000 known windows, which keeps an
attack's burst of novel windows visible; ``false_positive_rate`` reports
the actual figure so the sensor can log it.  Each agent hashes with its own
random seed, so a monitored process cannot aim for the collisions.

The hash is defined once, in ``bpf/h7.h``; :func:`bit_positions` mirrors it
and ``tests/test_sensor_windows.py`` checks the two agree on a live kernel.
"""

from __future__ import annotations

import math
import mmap
import secrets
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from h7.decode import SEQ_AGENT_MUL, SEQ_BITS_LOG2, SEQ_WORDS

SEQ_BITS = 1 << SEQ_BITS_LOG2
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S32 = np.uint64(32)
_S6 = np.uint64(6)
_LOW6 = np.uint64(63)
_MASK = np.uint64(SEQ_BITS - 1)

U64 = npt.NDArray[np.uint64]


def new_seed() -> int:
    return secrets.randbits(64)


def _fmix64(h: U64) -> U64:
    h = h ^ (h >> _S33)
    h = h * _M1
    h ^= h >> _S33
    h = h * _M2
    h ^= h >> _S33
    return h


def bit_positions(codes: npt.ArrayLike, agent: int, seed: int) -> tuple[U64, U64]:
    """The two filter bits of each window code, exactly as the kernel computes them."""
    c = np.asarray(codes, dtype=np.uint64)
    key = np.uint64((agent * SEQ_AGENT_MUL) & 0xFFFFFFFFFFFFFFFF) ^ np.uint64(seed)
    with np.errstate(over="ignore"):
        h = _fmix64(c ^ key)
    return h & _MASK, (h >> _S32) & _MASK


def false_positive_rate(bits_set: int) -> float:
    """Chance that a window never added finds both its bits set (k = 2)."""
    return (bits_set / SEQ_BITS) ** 2


def expected_false_positive_rate(n_codes: int) -> float:
    return (1.0 - math.exp(-2.0 * n_codes / SEQ_BITS)) ** 2


class SeqBits:
    """The kernel's ``seq_bits`` array, mapped into this process for writing.

    Bits are only ever added while an agent is monitored, so the kernel
    (which only reads) can never see a half-written word as anything but
    "one of the two bits not set yet": the worst case is one extra ring
    record, never a lost one.  Bits of an agent whose baseline restarts stay
    set (others may share them); its filter is simply switched off.
    """

    def __init__(self, fd: int) -> None:
        self._mm = mmap.mmap(fd, SEQ_WORDS * 8, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.words: npt.NDArray[np.uint64] = np.frombuffer(self._mm, dtype=np.uint64)
        # Counted as bits are added, so no call ever reads (and makes resident) the whole 2 MiB.
        self._bits_set = 0

    def add(self, codes: npt.ArrayLike, agent: int, seed: int) -> None:
        b1, b2 = bit_positions(codes, agent, seed)
        bits = np.concatenate((b1, b2))
        idx = (bits >> _S6).astype(np.intp)
        touched = np.unique(idx)
        before = self.words[touched].copy()
        np.bitwise_or.at(self.words, idx, np.uint64(1) << (bits & _LOW6))
        fresh = (self.words[touched] & ~before).view(np.uint8)
        self._bits_set += int(np.unpackbits(fresh).sum())

    def remove(
        self, codes: npt.ArrayLike, agent: int, seed: int, keep: Sequence[tuple[npt.ArrayLike, int, int]]
    ) -> None:
        """Clear the bits of a retired agent's windows, except bits another agent's windows need.

        ``keep`` lists the (codes, agent, seed) still filtering.  A cleared bit
        can only make the kernel ship a record it would have filtered (never
        lose one), so clearing is safe while the kernel reads.
        """
        b1, b2 = bit_positions(codes, agent, seed)
        drop = np.unique(np.concatenate((b1, b2)))
        for k_codes, k_agent, k_seed in keep:
            k1, k2 = bit_positions(k_codes, k_agent, k_seed)
            drop = np.setdiff1d(drop, np.concatenate((k1, k2)), assume_unique=False)
            if drop.size == 0:
                return
        idx = (drop >> _S6).astype(np.intp)
        masks = np.uint64(1) << (drop & _LOW6)
        was = (self.words[idx] & masks) != 0
        np.bitwise_and.at(self.words, idx, ~masks)
        self._bits_set -= int(was.sum())

    def contains(self, codes: npt.ArrayLike, agent: int, seed: int) -> npt.NDArray[np.bool_]:
        b1, b2 = bit_positions(codes, agent, seed)
        one = np.uint64(1)
        w = self.words
        return (((w[(b1 >> _S6).astype(np.intp)] >> (b1 & _LOW6)) & one) == one) & (
            ((w[(b2 >> _S6).astype(np.intp)] >> (b2 & _LOW6)) & one) == one
        )

    def bits_set(self) -> int:
        return self._bits_set

    def close(self) -> None:
        # The numpy view must go before the mapping can be closed.
        self.words = np.zeros(0, dtype=np.uint64)
        self._mm.close()
