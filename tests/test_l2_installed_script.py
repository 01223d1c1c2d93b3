"""L2's installed-script rule (no BPF): a ``#!`` script installed where the host's programs live,
unchanged since the sensor started, is judged by its own name, not as its interpreter.

Real files in a temporary "bin" directory given as ``search_path``; exec records shaped as the
kernel sends them for a script (``filename`` = the script, ``interp``/``exe_name`` = the
interpreter the kernel loaded, argv rewritten by binfmt_script).  Live /proc is on (the rule
is off in a replay), so pids are chosen that no process on this host has.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from h7.config import EngineConfig
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l2_exec import ExecChannel

PID = 4_100_000  # above the default pid_max: /proc/<PID> never exists
SH = "/bin/sh"
PY = os.path.realpath("/usr/bin/python3")


def channel(bindir: Path, live: bool = True, **l2: Any) -> tuple[ExecChannel, ChannelContext]:
    cfg = EngineConfig(channel_settings={"L2": {"search_path": [str(bindir), "/usr/bin", "/bin"], **l2}})
    ch = ExecChannel(cfg)
    ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(live))
    return ch, ctx


def script(path: Path, shebang: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{shebang}\necho hello\n")
    path.chmod(0o755)
    return path


def ex(
    pid: int, ppid: int, filename: str, interp: str, args: list[str], flags: list[str] | None = None
) -> dict[str, Any]:
    return {
        "type": "exec",
        "pid": pid,
        "ppid": ppid,
        "ts_ns": 1,
        "filename": filename,
        "interp": interp,
        "exe_name": os.path.basename(os.path.realpath(interp)),
        "args": args,
        "id_flags": flags or [],
    }


def verdicts(ch: ExecChannel, ctx: ChannelContext, events: list[dict[str, Any]]) -> list[str]:
    """code:program<-parent_image, whatever identified the program (inode, hash or name)."""
    return [
        f"{a.code}:{a.evidence.get('program', a.key)}<-{a.evidence.get('parent_image')}"
        for a in ch.on_events(events, ctx)
    ]


def sh_script_exec(s: Path, flags: list[str] | None = None) -> dict[str, Any]:
    return ex(PID, PID - 1, str(s), SH, [SH, str(s), "-a"], flags)


@pytest.fixture()
def installed(tmp_path: Path) -> Path:
    """A `#!/bin/sh` program in a bin directory, older than the channel that will judge it."""
    s = script(tmp_path / "bin" / "lsb_release", SH)
    time.sleep(0.02)
    return s


def test_an_installed_shell_script_is_judged_by_its_name(installed: Path) -> None:
    ch, ctx = channel(installed.parent)
    assert verdicts(ch, ctx, [sh_script_exec(installed)]) == []
    assert ch.status()["installed_scripts"] == 1


def test_what_an_installed_script_runs_is_still_judged(installed: Path) -> None:
    ch, ctx = channel(installed.parent)
    child = ex(PID + 1, PID, SH, SH, ["sh", "-c", "id; curl x"])
    got = verdicts(ch, ctx, [sh_script_exec(installed), child])
    assert got == ["LLM_AGENT_HIJACK:dash<-lsb_release"]


def test_a_script_changed_after_the_sensor_started_is_its_interpreter(tmp_path: Path) -> None:
    ch, ctx = channel(tmp_path / "bin")
    time.sleep(0.02)
    s = script(tmp_path / "bin" / "lsb_release", SH)  # written (ctime) after the watch began
    assert verdicts(ch, ctx, [sh_script_exec(s)]) == ["LLM_AGENT_HIJACK:dash<-agent"]


def test_an_old_script_touched_after_the_sensor_started_is_its_interpreter(installed: Path) -> None:
    ch, ctx = channel(installed.parent)
    time.sleep(0.02)
    os.chmod(installed, 0o700)  # any change moves ctime, which userspace cannot set back
    assert verdicts(ch, ctx, [sh_script_exec(installed)]) == ["LLM_AGENT_HIJACK:dash<-agent"]


def test_a_script_outside_the_search_path_is_its_interpreter(tmp_path: Path) -> None:
    s = script(tmp_path / "repo" / "tools" / "fmt", SH)  # planted in a repository, old
    time.sleep(0.02)
    ch, ctx = channel(tmp_path / "bin")
    assert verdicts(ch, ctx, [sh_script_exec(s)]) == ["LLM_AGENT_HIJACK:dash<-agent"]


@pytest.mark.parametrize("flag", ["agent-written", "memfd", "deleted"])
def test_a_flagged_file_is_never_an_installed_script(installed: Path, flag: str) -> None:
    ch, ctx = channel(installed.parent)
    assert verdicts(ch, ctx, [sh_script_exec(installed, [flag])])[-1] == "LLM_AGENT_HIJACK:dash<-agent"


def test_replay_judges_every_script_as_its_interpreter(installed: Path) -> None:
    ch, ctx = channel(installed.parent, live=False)
    assert verdicts(ch, ctx, [sh_script_exec(installed)]) == ["LLM_AGENT_HIJACK:dash<-agent"]


def test_the_rule_can_be_turned_off(installed: Path) -> None:
    ch, ctx = channel(installed.parent, installed_scripts=False)
    assert verdicts(ch, ctx, [sh_script_exec(installed)]) == ["LLM_AGENT_HIJACK:dash<-agent"]


def test_env_shebang_is_followed_to_the_interpreter_that_runs_the_script(tmp_path: Path) -> None:
    """``#!/usr/bin/env sh``: the kernel runs env, env execs sh in place with the script as argv[1]."""
    s = script(tmp_path / "bin" / "npm", "/usr/bin/env sh")
    time.sleep(0.02)
    ch, ctx = channel(s.parent)
    first = ex(PID, PID - 1, str(s), "/usr/bin/env", ["/usr/bin/env", "sh", str(s), "pack"])
    second = ex(PID, PID - 1, "/usr/bin/sh", "/usr/bin/sh", ["sh", str(s), "pack"])
    assert verdicts(ch, ctx, [first, second]) == []
    # the same pair for a script planted elsewhere: the shell env found is the agent's, as before
    p = script(tmp_path / "work" / "npm", "/usr/bin/env sh")
    ch, ctx = channel(s.parent)
    first = ex(PID, PID - 1, str(p), "/usr/bin/env", ["/usr/bin/env", "sh", str(p), "pack"])
    second = ex(PID, PID - 1, "/usr/bin/sh", "/usr/bin/sh", ["sh", str(p), "pack"])
    assert verdicts(ch, ctx, [first, second]) == ["LLM_AGENT_HIJACK:dash<-env"]


def test_env_dash_s_splitting_is_not_followed(tmp_path: Path) -> None:
    s = script(tmp_path / "bin" / "tool", "/usr/bin/env -S sh -e")
    time.sleep(0.02)
    ch, ctx = channel(s.parent)
    first = ex(PID, PID - 1, str(s), "/usr/bin/env", ["/usr/bin/env", "-S sh -e", str(s)])
    second = ex(PID, PID - 1, "/usr/bin/sh", "/usr/bin/sh", ["sh", "-e", str(s)])
    assert verdicts(ch, ctx, [first, second]) == ["LLM_AGENT_HIJACK:dash<-env"]


def test_an_interpreter_wrapper_keeps_its_interpreter_name_and_its_chain_is_one_launch(
    tmp_path: Path,
) -> None:
    """A pyenv-style shim named python3 (``#!/usr/bin/env bash``) is python started by the agent, and
    the bash and python it execs in place are that launch (same key), not bash<-env + python<-bash."""
    shim = script(tmp_path / "shims" / "python3", "/usr/bin/env bash")
    time.sleep(0.02)
    ch, ctx = channel(shim.parent)
    env = ex(PID, PID - 1, str(shim), "/usr/bin/env", ["/usr/bin/env", "bash", str(shim), "-c", "print(1)"])
    bash = ex(PID, PID - 1, "/usr/bin/bash", "/usr/bin/bash", ["bash", str(shim), "-c", "print(1)"])
    libexec = ex(PID, PID - 1, "/usr/bin/bash", "/usr/bin/bash", ["bash", "/opt/pyenv/libexec/pyenv", "exec"])
    python = ex(PID, PID - 1, PY, PY, [PY, "-c", "print(1)"])
    got = ch.on_events([env, bash, libexec, python], ctx)
    assert [f"{a.code}:{a.key}" for a in got] == ["LLM_AGENT_HIJACK:python<-agent"] * 3
    assert got[0].evidence["installed_script"] == str(shim)
    assert got[2].evidence["continues_installed_script"] == "python<-agent"
    # a LOTL tool exec'd in place keeps its own key; another process (a child) is judged afresh
    curl = ex(PID, PID - 1, "/usr/bin/curl", "/usr/bin/curl", ["curl", "x"])
    child = ex(PID + 1, PID, SH, SH, ["sh", "-c", "id; id"])
    assert verdicts(ch, ctx, [curl, child]) == [
        "LIVING_OFF_THE_LAND:curl<-agent",
        "LLM_AGENT_HIJACK:dash<-curl",
    ]


def test_an_installed_script_named_as_a_lotl_tool_is_that_tool(tmp_path: Path) -> None:
    s = script(tmp_path / "bin" / "wget", SH)
    time.sleep(0.02)
    ch, ctx = channel(s.parent)
    assert verdicts(ch, ctx, [sh_script_exec(s)]) == ["LIVING_OFF_THE_LAND:wget<-agent"]


def test_the_directory_a_program_on_the_search_path_links_to_is_a_program_directory(tmp_path: Path) -> None:
    """pyenv: ``bin/pyenv`` on PATH links to ``libexec/pyenv``; its helpers in libexec are installed."""
    helper = script(tmp_path / "libexec" / "pyenv-version-name", "/usr/bin/env bash")
    main = script(tmp_path / "libexec" / "pyenv", "/usr/bin/env bash")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "pyenv").symlink_to(main)
    other = script(tmp_path / "elsewhere" / "tool", "/usr/bin/env bash")  # not linked from the path
    time.sleep(0.02)
    ch, ctx = channel(tmp_path / "bin")
    events = []
    for pid, s in ((PID, helper), (PID + 2, other)):
        events += [
            ex(pid, PID - 1, str(s), "/usr/bin/env", ["/usr/bin/env", "bash", str(s), "-f"]),
            ex(pid, PID - 1, "/usr/bin/bash", "/usr/bin/bash", ["bash", str(s), "-f"]),
        ]
    assert verdicts(ch, ctx, events) == ["LLM_AGENT_HIJACK:bash<-env"]  # only the unlinked one


def test_an_installed_python_script_stays_its_interpreter(tmp_path: Path) -> None:
    """pytest or pdb3 run code in-process (the workspace's tests, ``-c``): python's verdict stays."""
    s = script(tmp_path / "bin" / "pytest", PY)
    n = script(tmp_path / "bin" / "npm", "/usr/bin/env node")
    time.sleep(0.02)
    ch, ctx = channel(s.parent)
    py = ex(PID, PID - 1, str(s), PY, [PY, str(s), "-q"])
    env = ex(PID + 1, PID - 1, str(n), "/usr/bin/env", ["/usr/bin/env", "node", str(n), "pack"])
    node = ex(PID + 1, PID - 1, "/usr/bin/node", "/usr/bin/node", ["node", str(n), "pack"])
    assert verdicts(ch, ctx, [py, env, node]) == [
        "LLM_AGENT_HIJACK:python<-agent",
        "LLM_AGENT_HIJACK:node<-env",
    ]
