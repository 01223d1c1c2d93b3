"""L2: a build's output run by the build is not AGENT_WRITTEN_EXEC (no BPF; kernel-shaped records).

Session 12 (benign, issue 12/13's false alarms): cmake's ``check_c_source_runs`` probe, the test
program ctest runs and ``make check``'s ``./selftest`` are files a process of the agent closed
after writing them, so the kernel flags their exec ``agent-written`` -- two certificates on
red-team round 9's benign cmake/ctest act, one per program on the dev acts.  The rule
(``ExecChannel._build_output``) passes such an exec only when an installed linker was the
inode's last writer (the ``file`` record of its writable open, the kernel's last writable close
between that open and the linker's exit) and an installed build or test driver (or a recipe
shell of one) runs it.  Everything else -- the agent running what it compiled (round 5's
``g4r5_gcc_built_exec`` shape), a driver running a file the agent wrote, a write after the
linker was gone -- stays AGENT_WRITTEN_EXEC.  The programs are real files (gcc-built here,
the host's cmake, ctest, make and ld), the records shaped as the kernel sends them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import file_exec

from h7.config import EngineConfig
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l2_exec import ExecChannel

TOOLS = {n: shutil.which(n) for n in ("cc", "ld", "cmake", "ctest", "make")}
pytestmark = [
    pytest.mark.skipif(None in TOOLS.values(), reason=f"needs {sorted(TOOLS)} installed"),
    pytest.mark.skipif(os.path.basename(os.path.realpath("/bin/sh")) != "dash", reason="/bin/sh is not dash"),
]
O_RDWR_CREAT_TRUNC = 0o2 | 0o100 | 0o1000
GEN = 7


def tool(n: str) -> str:
    path = TOOLS[n]
    assert path is not None
    return path


def channel(**settings: Any) -> tuple[ExecChannel, ChannelContext]:
    cfg = EngineConfig(channel_settings={"L2": settings})
    ch = ExecChannel(cfg)
    ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(False))
    ch.baseline_end_ns = 100  # every write below is after the baseline
    return ch, ctx


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real program gcc built (the file the records below name)."""
    d = tmp_path_factory.mktemp("build")
    (d / "t.c").write_text("int main(void) { return 0; }\n")
    subprocess.run([tool("cc"), "-o", str(d / "t"), str(d / "t.c")], check=True, timeout=120)
    return d / "t"


def opened(path: Path, pid: int, ts: int) -> dict[str, Any]:
    """The kernel's ``file`` record: an agent process's open returned this regular file writable."""
    st = os.stat(path)
    return {
        "type": "file",
        "op": "opened",
        "pid": pid,
        "tid": pid,
        "ts_ns": ts,
        "dev": (os.major(st.st_dev) << 20) | os.minor(st.st_dev),
        "ino": st.st_ino,
        "gen": GEN,
        "fd": 3,
        "flags": O_RDWR_CREAT_TRUNC,
        "hook": "tracepoint/syscalls/sys_exit_openat",
        "name": path.name,
    }


def exited(pid: int, ts: int) -> dict[str, Any]:
    return {"type": "exit", "pid": pid, "tid": pid, "ts_ns": ts}


def linked(path: Path, linker: str | None = None, **ld_fields: Any) -> list[dict[str, Any]]:
    """collect2 (pid 20) runs the installed ld, which writes ``path`` and exits (ts 300-400)."""
    ld = linker or tool("ld")
    return [
        file_exec(ld, ["ld", "-o", str(path)], 20, 19, ts_ns=300, **ld_fields),
        opened(path, 20, 310),
        exited(20, 400),
    ]


def run_of(path: Path, pid: int, ppid: int, written_ns: int = 350, **fields: Any) -> dict[str, Any]:
    return file_exec(
        str(path), [f"./{path.name}"], pid, ppid, ts_ns=500, gen=GEN,
        id_flags=["agent-written"], written_ns=written_ns, **fields,
    )  # fmt: skip


def codes(ch: ExecChannel, ctx: ChannelContext, events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a.code, a.key) for a in ch.on_events(events, ctx)]


def test_the_linkers_output_run_by_ctest_or_cmakes_try_run_is_the_builds(program: Path) -> None:
    for driver in ("ctest", "cmake"):
        ch, ctx = channel()
        events = [
            file_exec(tool(driver), [driver], 10, 1, ts_ns=200),
            *linked(program),
            run_of(program, 30, 10),
        ]
        assert codes(ch, ctx, events) == [], driver
        assert ch.status()["agent_written_build_outputs"] == 1
        assert ch.status()["agent_written"] == 0


def test_make_recipe_shells_run_it_as_make_would(program: Path) -> None:
    """``check: ./t && echo ok`` (a recipe shell forks it) and ``./t`` (a helper shell execs it in place)."""
    ch, ctx = channel()
    make = file_exec(tool("make"), ["make", "check"], 10, 1, ts_ns=200)
    recipe = file_exec("/bin/sh", ["sh", "-c", f"./{program.name} && echo ok"], 11, 10, ts_ns=450)
    assert codes(ch, ctx, [make, *linked(program), recipe, run_of(program, 12, 11)]) == []
    ch, ctx = channel()
    helper = file_exec("/bin/sh", ["sh", "-c", f"./{program.name}"], 11, 10, ts_ns=450)
    assert codes(ch, ctx, [make, *linked(program), helper, run_of(program, 11, 10)]) == []
    assert ch.status()["agent_written_build_outputs"] == 1


WRITTEN = ("AGENT_WRITTEN_EXEC", "t")


def test_the_agent_running_what_it_compiled_is_still_agent_written(program: Path) -> None:
    """Round 5's class (the agent runs gcc, then runs the output itself): no driver runs it."""
    ch, ctx = channel()
    assert codes(ch, ctx, [*linked(program), run_of(program, 30, 1)]) == [WRITTEN]
    # through its own shell: that shell is the agent's (LLM_AGENT_HIJACK), not a recipe shell
    ch, ctx = channel()
    sh = file_exec("/bin/sh", ["sh", "-c", "./t && echo ok"], 11, 1, ts_ns=450)
    got = codes(ch, ctx, [*linked(program), sh, run_of(program, 12, 11)])
    assert got == [("LLM_AGENT_HIJACK", "dash<-agent"), WRITTEN], got


def test_a_driver_running_a_file_the_agent_wrote_is_agent_written(program: Path) -> None:
    """ctest runs what its list names: a file whose last writer was the agent is the agent's."""
    ch, ctx = channel()
    ctest = file_exec(tool("ctest"), ["ctest"], 10, 1, ts_ns=200)
    assert codes(ch, ctx, [ctest, opened(program, 1, 310), run_of(program, 30, 10)]) == [WRITTEN]
    # linked first, then the agent opened the same inode writable and put its own bytes in
    ch, ctx = channel()
    events = [ctest, *linked(program), opened(program, 1, 420), run_of(program, 30, 10, written_ns=430)]
    assert codes(ch, ctx, events) == [WRITTEN]


@pytest.mark.parametrize(
    "case",
    ["closed after the linker exited", "linker still running", "linker copy", "driver copy", "rule off"],
)
def test_what_the_rule_does_not_pass(program: Path, case: str, tmp_path: Path) -> None:
    ch, ctx = channel(build_outputs=False) if case == "rule off" else channel()
    driver = file_exec(tool("ctest"), ["ctest"], 10, 1, ts_ns=200)
    events = linked(program)
    run = run_of(program, 30, 10)
    if case == "closed after the linker exited":
        # a writable close with no open record (creat(2), io_uring) after ld was gone
        run = run_of(program, 30, 10, written_ns=450)
    elif case == "linker still running":
        events = events[:2]
    elif case == "linker copy":
        copy = tmp_path / "ld"
        shutil.copy(tool("ld"), copy)
        events = linked(program, str(copy))
    elif case == "driver copy":
        copy = tmp_path / "ctest"
        shutil.copy(tool("ctest"), copy)
        driver = file_exec(str(copy), ["ctest"], 10, 1, ts_ns=200)
    assert codes(ch, ctx, [driver, *events, run]) == [WRITTEN], case
    assert ch.status()["agent_written_build_outputs"] == 0


def test_an_installed_linker_marked_agent_written_is_not_the_hosts() -> None:
    """The installed path alone is not enough: a linker file the agent wrote is its own program."""
    ch, ctx = channel()
    ld = file_exec(tool("ld"), ["ld"], 20, 19, ts_ns=300, id_flags=["agent-written"], written_ns=250)
    ch.on_events([ld], ctx)
    assert not ch._img_of[20].linker


def test_the_exec_identity_is_still_judged(tmp_path: Path) -> None:
    """Only the written-file finding is passed: a shell copy the 'linker' wrote is still a shell."""
    copy = tmp_path / "t"
    shutil.copy(os.path.realpath("/bin/sh"), copy)
    with open(copy, "ab") as f:
        f.write(b"\0pad")
    ch, ctx = channel()
    events = [file_exec(tool("ctest"), ["ctest"], 10, 1, ts_ns=200), *linked(copy), run_of(copy, 30, 10)]
    got = codes(ch, ctx, events)
    assert [c for c, _ in got] == ["LLM_AGENT_HIJACK"], got
    assert ch.status()["agent_written_build_outputs"] == 1
