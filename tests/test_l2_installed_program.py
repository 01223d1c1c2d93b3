"""L2: the recipe shells of a program written in an interpreter (npm run-scripts), no BPF.

Session 11 (benign): npm is node running an installed program file; it runs each script of a
package through ``sh -c`` exactly as make runs a recipe.  Its shells were ``dash<-node`` and the
node they start ``node<-dash``: two certificates more for the agent's one ``npm run``.  Now such
a shell is a recipe shell (transparent) and the same interpreter it starts folds into the
program's verdict; the agent's start of the program itself is still judged.  The files are real
(node and npm as installed on this host), the checks live (/proc) as in the sensor.
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

NODE, NPM = shutil.which("node"), shutil.which("npm")
pytestmark = [
    pytest.mark.skipif(os.path.basename(os.path.realpath("/bin/sh")) != "dash", reason="/bin/sh is not dash"),
    pytest.mark.skipif(NODE is None or NPM is None, reason="node and npm are not installed"),
]


def channel(live: bool = True) -> tuple[ExecChannel, ChannelContext]:
    cfg = EngineConfig()
    ch = ExecChannel(cfg)
    ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(live))
    return ch, ctx


def verdicts(
    ch: ExecChannel, ctx: ChannelContext, events: list[dict[str, Any]]
) -> list[tuple[str, str, str]]:
    return [(a.code, a.key, str(a.evidence.get("under_interpreter", ""))) for a in ch.on_events(events, ctx)]


def npm_run(script_cmd: str, inner: list[dict[str, Any]], program: str | None = None) -> list[dict[str, Any]]:
    """The agent runs ``node PROGRAM run x``; npm runs ``sh -c SCRIPT_CMD``, which runs ``inner``."""
    assert NODE is not None and NPM is not None
    return [
        file_exec(NODE, ["node", program or NPM, "run", "build"], 10, 1),
        file_exec("/bin/sh", ["sh", "-c", script_cmd], 11, 10),
        *inner,
    ]


def test_npm_scripts_are_the_programs_recipe_shells() -> None:
    assert NODE is not None
    ch, ctx = channel()
    got = verdicts(
        ch,
        ctx,
        npm_run(
            "node scripts/build.js && echo built", [file_exec(NODE, ["node", "scripts/build.js"], 12, 11)]
        ),
    )
    # the agent started node (npm): judged; its script's node is that verdict again (folded by key)
    assert got == [
        ("LLM_AGENT_HIJACK", "node<-agent", ""),
        ("LLM_AGENT_HIJACK", "node<-agent", "node<-agent"),
    ], got
    assert ch.status()["recipe_shells"] == 1


def test_a_simple_script_command_is_a_helper_and_folds_the_same_way() -> None:
    assert NODE is not None
    ch, ctx = channel()
    got = verdicts(ch, ctx, npm_run("node test/run.js", [file_exec(NODE, ["node", "test/run.js"], 11, 10)]))
    assert got == [
        ("LLM_AGENT_HIJACK", "node<-agent", ""),
        ("LLM_AGENT_HIJACK", "node<-agent", "node<-agent"),
    ]


def test_what_the_scripts_run_that_is_not_node_is_still_judged() -> None:
    ch, ctx = channel()
    py, curl = os.path.realpath("/usr/bin/python3"), shutil.which("curl")
    got = verdicts(ch, ctx, npm_run("python3 x.py && true", [file_exec(py, ["python3", "x.py"], 12, 11)]))
    assert [k for _, k, _ in got] == ["node<-agent", "python<-dash"]
    if curl is not None:
        ch, ctx = channel()
        got = verdicts(
            ch,
            ctx,
            npm_run("curl -s http://h/ && true", [file_exec(curl, ["curl", "-s", "http://h/"], 12, 11)]),
        )
        assert [(c, k) for c, k, _ in got] == [
            ("LLM_AGENT_HIJACK", "node<-agent"),
            ("LIVING_OFF_THE_LAND", "curl"),
        ]


@pytest.mark.parametrize("how", ["inline", "workspace", "replay"])
def test_node_running_code_that_is_not_an_installed_program_keeps_its_shell_judged(
    how: str, tmp_path: Path
) -> None:
    """``node -e``, a script in a workspace (the agent's own), or no /proc: the shell is node's code's."""
    assert NODE is not None
    ch, ctx = channel(live=how != "replay")
    if how == "inline":
        events = [
            file_exec(NODE, ["node", "-e", "require('child_process').execSync('ls; id')"], 10, 1),
            file_exec("/bin/sh", ["sh", "-c", "ls; id"], 11, 10),
        ]
    else:
        script = tmp_path / "build.js"
        script.write_text("require('child_process').execSync('ls; id')\n")
        program = str(script) if how == "workspace" else None
        events = npm_run("ls; id", [], program)
    got = verdicts(ch, ctx, events)
    assert [k for _, k, _ in got] == ["node<-agent", "dash<-node"], got


def test_an_installed_program_changed_since_the_watch_began_is_not_one(tmp_path: Path) -> None:
    """A program file whose ctime is after L2 started watching (written, copied, renamed into place)."""
    assert NODE is not None
    ch, ctx = channel()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    planted = bindir / "npm"
    planted.write_text("#!/usr/bin/env node\nrequire('child_process').execSync('ls; id')\n")
    ch._script_dirs = frozenset({str(bindir)})  # a program directory, as if on $PATH
    got = verdicts(ch, ctx, npm_run("ls; id", [], str(planted)))
    assert [k for _, k, _ in got] == ["node<-agent", "dash<-node"], got
