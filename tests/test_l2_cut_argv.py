"""L2: a program whose argv the kernel cut is read back whole while it lives (no BPF; live /proc).

Session 12 (benign): the exec record carries 256 bytes of argv, and a program whose command line
was cut may hide a shell past the cut, so its shells were never helper or recipe shells.  git
cloning a submodule (two long absolute paths) thus made its own ``sh -c "git-upload-pack '…'"``
a ``dash<-git`` (dev act ``benign_git_libexec_dev``).  Now the whole argv is read from
``/proc/<pid>/cmdline`` while the program lives, if it begins with the words the kernel captured.
The parent here is a real process (``cat -`` with a long argv, waiting on its stdin); the exec
records are shaped as the kernel sends them (argv cut, ``args_truncated``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import file_exec

from h7.config import EngineConfig
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l2_exec import ExecChannel

pytestmark = pytest.mark.skipif(
    os.path.basename(os.path.realpath("/bin/sh")) != "dash", reason="/bin/sh is not dash"
)
CAT = "/usr/bin/cat"
LONG = "/var/tmp/" + "a" * 120 + "/vendor/lib/.git"


def channel(live: bool = True) -> tuple[ExecChannel, ChannelContext]:
    cfg = EngineConfig(channel_settings={"L2": {"search_path": ["/usr/bin", "/bin"]}})
    ch = ExecChannel(cfg)
    return ch, ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(live))


def ex(pid: int, ppid: int, filename: str, args: list[str], **kw: Any) -> dict[str, Any]:
    return file_exec(filename, args, pid, ppid, **kw)


def cut(argv: list[str]) -> list[str]:
    """argv as the kernel captures it: 256 bytes, NUL-separated, the last word cut."""
    raw = b"\0".join(a.encode() for a in argv)[:256]
    return [w.decode() for w in raw.split(b"\0")]


@pytest.fixture()
def waiting() -> Iterator[Any]:
    """Start ``cat - ARGS...`` (alive until its stdin closes); yield a starter."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str]) -> subprocess.Popen[bytes]:
        p = subprocess.Popen([CAT, "-", *argv], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        procs.append(p)
        return p

    yield start
    for p in procs:
        assert p.stdin is not None
        p.stdin.close()
        p.wait(timeout=10)


def shell_of(pid: int, argv: list[str], ch: ExecChannel, ctx: ChannelContext) -> list[str]:
    parent = ex(pid, 1, CAT, cut([CAT, "-", *argv]), args_truncated=True)
    up = "git-upload-pack '/var/tmp/x/.git'"
    return [
        a.key for a in ch.on_events([parent, ex(pid + 4_000_000, pid, "/bin/sh", ["sh", "-c", up, up])], ctx)
    ]


def test_a_cut_command_line_read_whole_naming_no_shell_keeps_the_helper(waiting: Any) -> None:
    p = waiting(["--", LONG, LONG, LONG])
    ch, ctx = channel()
    assert shell_of(p.pid, ["--", LONG, LONG, LONG], ch, ctx) == []
    assert ch.status()["helper_shells"] == 1


def test_a_shell_past_the_cut_or_no_whole_argv_keeps_the_shell_judged(waiting: Any) -> None:
    # the whole argv names a shell after the cut
    p = waiting([LONG, LONG, "/bin/sh"])
    ch, ctx = channel()
    assert shell_of(p.pid, [LONG, LONG, "/bin/sh"], ch, ctx) == ["dash<-cat"]
    # the process under that pid is another exec than the one the kernel reported
    p = waiting([LONG, LONG])
    ch, ctx = channel()
    assert shell_of(p.pid, ["--other", LONG, LONG], ch, ctx) == ["dash<-cat"]
    # a replay (no /proc), or a parent already gone
    ch, ctx = channel(live=False)
    assert shell_of(p.pid, [LONG, LONG], ch, ctx) == ["dash<-cat"]
    ch, ctx = channel()
    assert shell_of(4_100_000, [LONG, LONG], ch, ctx) == ["dash<-cat"]
