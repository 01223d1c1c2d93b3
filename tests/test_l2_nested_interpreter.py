"""L2 (no BPF): an interpreter started by the same interpreter, already judged, folds into that verdict.

Session 9, from the development act ``benign_pip_venv_tool``: ``python3 -m venv`` (``python<-agent``)
runs the new venv's python for ensurepip, which was a certificate of its own (``python<-python``).
The inner interpreter can do nothing the outer one could not; a copy known only by content, another
interpreter, and a file with no path keep their own key.  Exec records are built from real files.
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
from h7.detect.channels.l2_exec import ExecChannel

PY = os.path.realpath("/usr/bin/python3")
DASH = os.path.realpath(shutil.which("dash") or "/bin/sh")
pytestmark = pytest.mark.skipif(
    not os.path.exists(PY) or os.path.basename(DASH) != "dash", reason="needs /usr/bin/python3 and dash"
)


def channel() -> tuple[ExecChannel, ChannelContext]:
    cfg = EngineConfig(channel_settings={"L2": {}})
    ch = ExecChannel(cfg)
    ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(False))
    return ch, ctx


def ex(pid: int, ppid: int, filename: str, args: list[str], **extra: Any) -> dict[str, Any]:
    """An exec record as the kernel sends it (device in the kernel's encoding)."""
    return file_exec(filename, args, pid, ppid, **extra)


def keys(ch: ExecChannel, ctx: ChannelContext, events: list[dict[str, Any]]) -> list[str]:
    return [f"{a.code}:{a.key}" for a in ch.on_events(events, ctx)]


def test_a_venvs_python_started_by_python_folds_into_the_first_verdict() -> None:
    ch, ctx = channel()
    venv = ex(10, 1, PY, ["python3", "-m", "venv", "v"])
    ensurepip = ex(11, 10, PY, ["v/bin/python3", "-m", "ensurepip", "--upgrade", "--default-pip"])
    alerts = ch.on_events([venv, ensurepip], ctx)
    assert [a.key for a in alerts] == ["python<-agent", "python<-agent"]
    assert alerts[1].evidence["under_interpreter"] == "python<-agent"
    assert alerts[1].evidence["parent_image"] == "python"  # who started it is still said
    # deeper: pip's python runs a build backend's python; the key is still the outermost verdict
    assert keys(ch, ctx, [ex(12, 11, PY, ["python3", "-c", "build"])]) == ["LLM_AGENT_HIJACK:python<-agent"]
    assert ch.status()["nested_interpreters"] == 2
    # a shell script's shell: dash<-dash under the agent's sh folds likewise
    got = keys(
        ch, ctx, [ex(20, 1, DASH, ["sh", "-c", "./x.sh; id"]), ex(21, 20, DASH, ["/bin/sh", "./x.sh"])]
    )
    assert got == ["LLM_AGENT_HIJACK:dash<-agent", "LLM_AGENT_HIJACK:dash<-agent"]


def test_another_interpreter_under_an_interpreter_keeps_its_key() -> None:
    """dash<-python, python<-dash: the inner one has powers the outer lacks (sockets for python)."""
    ch, ctx = channel()
    got = keys(
        ch,
        ctx,
        [
            ex(10, 1, PY, ["python3", "tool.py"]),
            ex(11, 10, DASH, ["sh", "-c", "python3 -c x; id"]),
            ex(12, 11, PY, ["python3", "-c", "x"]),
        ],
    )
    assert got == [
        "LLM_AGENT_HIJACK:python<-agent",
        "LLM_AGENT_HIJACK:dash<-python",
        "LLM_AGENT_HIJACK:python<-dash",
    ]
    assert ch.status()["nested_interpreters"] == 0


def test_a_copy_known_by_content_under_its_original_keeps_its_own_key(tmp_path: Path) -> None:
    """`sh -c './notes'` where notes is a renamed, padded dash: evidence of its own, not a repeat."""
    copy = tmp_path / "notes"
    copy.write_bytes(Path(DASH).read_bytes() + b"\0pad")
    copy.chmod(0o755)
    ch, ctx = channel()
    got = keys(ch, ctx, [ex(10, 1, DASH, ["sh", "-c", "./notes; id"]), ex(11, 10, str(copy), ["./notes"])])
    assert got[0] == "LLM_AGENT_HIJACK:dash<-agent"
    assert got[1] == f"LLM_AGENT_HIJACK:dash:elf-layout:{copy}<-dash", got


def test_fileless_or_handed_off_interpreters_are_not_folded() -> None:
    ch, ctx = channel()
    outer = ex(10, 1, PY, ["python3", "x.py"])
    memfd = ex(11, 10, PY, ["python3"], id_flags=["memfd"])
    got = keys(ch, ctx, [outer, memfd])
    assert (
        "LLM_AGENT_HIJACK:python<-python" in got
        and "FILELESS_EXEC:memfd:" + str(memfd["dev"]) + ":" + str(memfd["ino"]) in got
    )
    # the outer verdict must exist: an interpreter whose parent was not judged is keyed as before
    ch2, ctx2 = channel()
    assert keys(ch2, ctx2, [ex(30, 1, "/usr/bin/git", ["git"]), ex(31, 30, PY, ["python3"])]) == [
        "LLM_AGENT_HIJACK:python<-git"
    ]


def test_the_installed_interpreter_through_another_mount_is_still_itself() -> None:
    """A vmtest guest's 9p root: the kernel's (dev, inode) is not stat's, python is known by ELF layout.

    Its key then carries its path (``python:elf-layout:/usr/bin/python3.11<-agent``) like a copy's;
    the file's size, mtime and ctime are the installed binary's, so the nested one folds all the same.
    """

    def moved(e: dict[str, Any]) -> dict[str, Any]:
        return dict(e, dev=(0 << 20) | 4095, ino=e["ino"] + 7_000_000)

    ch, ctx = channel()
    alerts = ch.on_events(
        [moved(ex(10, 1, PY, ["python3", "-m", "venv", "v"])), moved(ex(11, 10, PY, ["v/bin/python3"]))], ctx
    )
    assert alerts[0].key == f"python:elf-layout:{PY}<-agent", alerts[0].key
    assert [a.key for a in alerts] == [alerts[0].key] * 2 and alerts[1].evidence[
        "under_interpreter"
    ] == alerts[0].key
