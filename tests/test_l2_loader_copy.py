"""L2 (no BPF): the dynamic loader is known by its content, so a renamed copy's PROGRAM is judged.

Red-team round 7, ``g4r7_renamed_ldso_dash`` (held out, missed in its first run): a copy of
ld-linux-x86-64.so.2 with 24 bytes appended, named ``.tools/indexer``, ran ``/bin/dash -c ...``.
L2 knew the loader only by its file name.  Exec records are built from real files: the host's
loader and copies of it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import file_exec

from h7.config import EngineConfig
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l2_exec import LOADER, ExecChannel

LDSO = next(
    (
        os.path.realpath(p)
        for p in ("/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1")
        if os.path.exists(p)
    ),
    "",
)
DASH = os.path.realpath(shutil.which("dash") or "/bin/sh")
pytestmark = pytest.mark.skipif(
    not LDSO or os.path.basename(DASH) != "dash", reason="needs the loader and dash"
)


def channel() -> tuple[ExecChannel, ChannelContext]:
    cfg = EngineConfig(channel_settings={"L2": {}})
    ch = ExecChannel(cfg)
    ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(True))
    return ch, ctx


def ex(path: Path | str, args: list[str], pid: int = 4_100_000) -> dict[str, Any]:
    """An exec record of ``path``; its pid does not exist, so the file itself is read (a gone process)."""
    return file_exec(str(path), args, pid, 1, ts_ns=1, exe_name=os.path.basename(path))


def _copy(tmp_path: Path, pad: bytes) -> Path:
    dst = tmp_path / ".tools" / "indexer"
    dst.parent.mkdir()
    dst.write_bytes(Path(LDSO).read_bytes() + pad)
    dst.chmod(0o755)
    return dst


@pytest.mark.parametrize("pad", [b"", b"\0h7rt7-loader-pad\0\0\0\0\0\0"], ids=["exact", "padded"])
def test_a_renamed_loader_copy_running_dash_is_the_agents_shell(tmp_path: Path, pad: bytes) -> None:
    copy = _copy(tmp_path, pad)
    ch, ctx = channel()
    alerts = ch.on_events([ex(copy, [str(copy), "/bin/dash", "-c", "touch m"])], ctx)
    assert [a.code for a in alerts] == ["LLM_AGENT_HIJACK"], alerts
    ev = alerts[0].evidence
    assert ev["program"] == "dash" and alerts[0].key.startswith("dash:loaded-") and str(copy) in alerts[0].key
    loader = [i for i in ev["identified_by"] if i["class"] == LOADER]
    assert loader and loader[0]["name"] == "ld.so" and loader[0]["by"] == "elf-layout"


def test_a_loader_copy_is_judged_exactly_like_the_loader(tmp_path: Path) -> None:
    """An unidentified program through it is LOTL (by: loader); ``--list`` (ldd's way) is nothing."""
    copy = _copy(tmp_path, b"\0pad")
    ch, ctx = channel()
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    alerts = ch.on_events([ex(copy, [str(copy), true])], ctx)
    assert [(a.code, a.evidence["program"]) for a in alerts] == [("LIVING_OFF_THE_LAND", "ld.so")], alerts
    assert ch.on_events([ex(copy, [str(copy), "--list", true])], ctx) == []
    # the real loader by its own name: as before (no loader identity added to its evidence)
    real = ch.on_events([ex(LDSO, [LDSO, "/bin/dash", "-c", "id"])], ctx)
    assert [a.code for a in real] == ["LLM_AGENT_HIJACK"]
    assert all(i["class"] != LOADER for i in real[0].evidence["identified_by"])


def test_a_program_that_is_not_the_loader_is_not_taken_for_it(tmp_path: Path) -> None:
    """A renamed copy of another ELF is no loader: its argv is not a program to judge."""
    ch, ctx = channel()
    other = tmp_path / "indexer"
    shutil.copy(os.path.realpath(shutil.which("true") or "/bin/true"), other)
    assert ch.on_events([ex(other, [str(other), "/bin/dash", "-c", "id"])], ctx) == []
