"""L2: a program's own helper scripts (git's exec path) are judged by their names (no BPF).

Session 12 (benign): git runs its scripted commands -- ``git bisect``, ``git submodule``,
``git mergetool`` -- from ``/usr/lib/git-core`` (``git --exec-path``), which is on no search
path, so each such ``#!/bin/sh`` script was an exec of dash by git: ``dash<-git``
LLM_AGENT_HIJACK (red-team round 7's benign ``git_bisect_run``).  Now a script in the running
program's own helper directory (``/usr/lib/PROG-core``, ``/usr/libexec/PROG``, ``/usr/lib/PROG``),
installed and unchanged since L2 started watching, is judged by its own name, as an installed
script on the search path is.  The script is the host's real git-bisect; the exec records are
shaped as the kernel sends a script's (``filename`` the script, ``interp``/``exe_name`` the
shell).  Live /proc is on (the rule is off in a replay); pids no process on this host has.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from h7.config import EngineConfig
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l2_exec import ExecChannel

BISECT = "/usr/lib/git-core/git-bisect"
GIT = shutil.which("git")
PID = 4_100_000  # above the default pid_max: /proc/<PID> never exists
PY = os.path.realpath("/usr/bin/python3")
pytestmark = pytest.mark.skipif(
    GIT is None or not os.path.isfile(BISECT) or os.path.basename(os.path.realpath("/bin/sh")) != "dash",
    reason="needs git's scripted git-bisect and /bin/sh = dash",
)


def channel(live: bool = True) -> tuple[ExecChannel, ChannelContext]:
    cfg = EngineConfig(channel_settings={"L2": {"search_path": ["/usr/bin", "/bin"]}})
    ch = ExecChannel(cfg)
    ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(live))
    return ch, ctx


def ex(pid: int, ppid: int, filename: str, args: list[str], interp: str | None = None) -> dict[str, Any]:
    interp = interp or filename
    return {
        "type": "exec",
        "pid": pid,
        "ppid": ppid,
        "ts_ns": pid,
        "filename": filename,
        "interp": interp,
        "exe_name": os.path.basename(os.path.realpath(interp)),
        "args": args,
        "id_flags": [],
    }


def bisect_by(parent: list[dict[str, Any]], script: str = BISECT) -> list[dict[str, Any]]:
    """``parent`` (pid PID) forks; the child (PID+1) execs the script: the kernel loads /bin/sh."""
    return [*parent, ex(PID + 1, PID, script, ["/bin/sh", script, "run", "python3", "check.py"], "/bin/sh")]


def verdicts(ch: ExecChannel, ctx: ChannelContext, events: list[dict[str, Any]]) -> list[str]:
    """code:program<-parent_image, whatever identified the program (inode, hash or name)."""
    return [
        f"{a.code}:{a.evidence.get('program', a.key)}<-{a.evidence.get('parent_image')}"
        for a in ch.on_events(events, ctx)
    ]


def test_gits_own_script_run_by_git_is_judged_by_its_name() -> None:
    assert GIT is not None
    ch, ctx = channel()
    assert verdicts(ch, ctx, bisect_by([ex(PID, 1, GIT, ["git", "bisect", "run"])])) == []
    assert ch.status()["installed_scripts"] == 1
    # what the script runs next is judged: its own `git bisect--helper` is nothing, a shell it
    # starts is a shell started by git-bisect (a program written in sh: LLM_AGENT_HIJACK)
    got = verdicts(ch, ctx, [ex(PID + 2, PID + 1, "/bin/sh", ["sh", "-c", "id; uname"])])
    assert got == ["LLM_AGENT_HIJACK:dash<-git-bisect"], got


@pytest.mark.parametrize("who", ["agent", "python", "another program"])
def test_the_script_run_by_anyone_else_is_still_its_shell(who: str) -> None:
    """Only git's own directory for git: the agent, an interpreter or another program get dash."""
    ch, ctx = channel()
    parent = {
        "agent": [],
        "python": [ex(PID, 1, PY, ["python3", "x.py"])],
        "another program": [ex(PID, 1, "/usr/bin/make", ["make"])],
    }[who]
    events = bisect_by(parent)
    if who == "agent":
        events[-1]["ppid"] = 1
    got = verdicts(ch, ctx, events)
    want = {"agent": "agent", "python": "python", "another program": "make"}[who]
    assert got[-1:] == [f"LLM_AGENT_HIJACK:dash<-{want}"], got


def test_a_script_changed_since_the_watch_or_elsewhere_is_its_shell(tmp_path: Path) -> None:
    assert GIT is not None
    git = [ex(PID, 1, GIT, ["git", "bisect", "run"])]
    ch, ctx = channel()
    ch.watch_start_real_ns = 0  # every file changed after the watch started
    assert verdicts(ch, ctx, bisect_by(git)) == ["LLM_AGENT_HIJACK:dash<-git"]
    # the same script under a directory named like git's that is not /usr/lib/git-core
    copy = tmp_path / "usr" / "lib" / "git-core" / "git-bisect"
    copy.parent.mkdir(parents=True)
    shutil.copy(BISECT, copy)
    ch, ctx = channel()
    ch.watch_start_real_ns += 10**12  # the copy is older than the watch: only its place decides
    assert verdicts(ch, ctx, bisect_by(git, str(copy))) == ["LLM_AGENT_HIJACK:dash<-git"]
    # a replay has no /proc: every script is its interpreter
    ch, ctx = channel(live=False)
    assert verdicts(ch, ctx, bisect_by(git)) == ["LLM_AGENT_HIJACK:dash<-git"]
