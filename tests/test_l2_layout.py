"""L2's ELF-layout identity: a copy of a known binary is recognised, another build sharing its head is not.

The kernel gives L2 the first 128 bytes of an executed file: the ELF header
and about one program header.  Unrelated builds can share those bytes (on
Debian 12 `free -m` was certified as the LOTL tool `basenc`, red-team round
4), so a head match must be confirmed by the whole program-header table or,
when the file cannot be read, by its size.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from h7.decode import HEAD_LEN
from h7.detect.channels.l2_exec import PHDR_READ, KnownBinaries, elf_layout_key, elf_phdr_table

SHELL = shutil.which("dash") or shutil.which("bash") or "/bin/sh"


def _known(tmp_path: Path) -> tuple[KnownBinaries, bytes]:
    d = tmp_path / "bin"
    d.mkdir()
    data = Path(SHELL).resolve().read_bytes()
    (d / "dash").write_bytes(data)
    (d / "dash").chmod(0o755)
    kb = KnownBinaries(lambda n: ("interpreter", "dash") if n == "dash" else None, [str(d)])
    return kb, data


def _other_build(data: bytes) -> bytes:
    """The same first 128 bytes, but a program header beyond them says another build (a LOAD's size)."""
    phoff = int.from_bytes(data[32:40], "little")
    phentsize, phnum = int.from_bytes(data[54:56], "little"), int.from_bytes(data[56:58], "little")
    out = bytearray(data)
    for i in range(phnum):
        at = phoff + i * phentsize
        if at >= HEAD_LEN and int.from_bytes(data[at : at + 4], "little") == 1:  # a PT_LOAD past the head
            filesz = int.from_bytes(data[at + 32 : at + 40], "little")
            out[at + 32 : at + 40] = (filesz - 16).to_bytes(8, "little")
            return bytes(out)
    pytest.skip("no PT_LOAD program header beyond the head in this shell")
    raise AssertionError


def test_phdr_table_and_load_end_of_a_real_binary() -> None:
    data = Path(SHELL).resolve().read_bytes()
    t = elf_phdr_table(data[:PHDR_READ])
    assert t is not None
    table, load_end = t
    assert len(table) == int.from_bytes(data[54:56], "little") * int.from_bytes(data[56:58], "little")
    assert 0 < load_end <= len(data)
    assert elf_phdr_table(b"#!/bin/sh\n" * 10) is None
    assert elf_phdr_table(data[:100]) is None  # the table does not fit: unknown, not a guess


def test_a_padded_copy_is_still_the_known_binary(tmp_path: Path) -> None:
    kb, data = _known(tmp_path)
    padded = data + b"\0" * 4096
    hit = kb.lookup_layout(padded[:HEAD_LEN], len(padded), padded[:PHDR_READ])
    assert hit is not None and hit[0] == "dash"
    # the file already gone (a memfd that exited): head and size only
    assert kb.lookup_layout(padded[:HEAD_LEN], len(padded), None) is not None


def test_another_build_with_the_same_head_is_not(tmp_path: Path) -> None:
    kb, data = _known(tmp_path)
    other = _other_build(data)
    assert elf_layout_key(other[:HEAD_LEN]) == elf_layout_key(data[:HEAD_LEN])  # the old key cannot tell
    assert kb.lookup_layout(other[:HEAD_LEN], len(other), other[:PHDR_READ]) is None
    # unreadable file: a size below the known binary's last loaded byte refutes it too
    small = other[: len(data) // 4]
    assert kb.lookup_layout(small[:HEAD_LEN], len(small), None) is None
