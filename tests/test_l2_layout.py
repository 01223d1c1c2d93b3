"""L2's ELF-layout identity: a copy of a known binary is recognised, another build sharing its head is not.

The kernel gives L2 the first 128 bytes of an executed file: the ELF header
and about one program header.  Unrelated builds can share those bytes (on
Debian 12 `free -m` was certified as the LOTL tool `basenc`, red-team round
4), so a head match must be confirmed by the whole program-header table or,
when the file cannot be read, by its size.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
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


def _elf_files(dirs: tuple[str, ...]) -> list[tuple[str, os.stat_result, bytes]]:
    out = []
    for d in dirs:
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                st = os.stat(e.path)
                if not stat.S_ISREG(st.st_mode):
                    continue
                with open(e.path, "rb") as f:
                    data = f.read(PHDR_READ)
            except OSError:
                continue
            if data[:4] == b"\x7fELF":
                out.append((e.path, st, data))
    return out


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def test_real_programs_sharing_a_known_tools_head_are_not_taken_for_it() -> None:
    """Every program here whose 128-byte head equals that of a tool L2 knows (as L2 indexes them).

    Only a copy of the known binary (same bytes, or the same bytes padded) may
    be identified.  The one kind the program-header table cannot tell apart is
    two programs built from one source with the same size and segments (su and
    runuser of util-linux on Debian 12): counted apart, not a failure.
    """
    from h7.config import EngineConfig
    from h7.detect.channels.l2_exec import ExecChannel

    kb = ExecChannel(EngineConfig()).known
    known_sha = {_sha256(p) for p in kb.paths.values()}
    collisions, same_build, false = [], [], []
    for path, st, data in _elf_files(("/usr/bin", "/usr/sbin", "/usr/libexec")):
        lk = elf_layout_key(data[:HEAD_LEN])
        if (st.st_dev, st.st_ino) in kb.by_inode or lk not in kb.by_layout or _sha256(path) in known_sha:
            continue  # a known binary itself, no head collision, or a true copy (correctly identified)
        collisions.append(path)
        hit = kb.lookup_layout(data[:HEAD_LEN], st.st_size, data)
        if hit is None:
            continue
        known = kb.by_layout[lk]
        table = elf_phdr_table(data)
        if (
            table is not None
            and table[0] == kb.phdrs[known][0]
            and st.st_size == os.stat(kb.paths[known]).st_size
        ):
            same_build.append((os.path.basename(path), hit[0]))
        else:
            false.append((path, hit[0]))
    if not collisions:
        pytest.skip("no program here shares a known tool's ELF head (nothing to refute)")
    assert not false, f"taken for another program by ELF layout: {false}"
    # what the table cannot tell (documented in docs/detection.md): ("runuser", "su") on Debian 12
    print(f"{len(collisions)} programs share a known tool's ELF head; same-build pairs: {same_build}")


def test_free_is_not_basenc_and_a_padded_shell_copy_still_is_a_shell(tmp_path: Path) -> None:
    """Red-team round 4: `free -m` was certified LIVING_OFF_THE_LAND as basenc (same ELF head)."""
    free = shutil.which("free")
    if free is None:
        pytest.skip("procps' free is not installed")
    from h7.config import EngineConfig
    from h7.detect.channels.l2_exec import ExecChannel

    kb = ExecChannel(EngineConfig()).known
    data = Path(free).read_bytes()
    assert kb.lookup_layout(data[:HEAD_LEN], len(data), data[:PHDR_READ]) is None
    shell = Path(SHELL).resolve().read_bytes() + b"\0"
    hit = kb.lookup_layout(shell[:HEAD_LEN], len(shell), shell[:PHDR_READ])
    assert hit is not None and hit[1] == "interpreter", hit
