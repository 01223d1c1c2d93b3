"""Agent selectors against real processes and a real cgroup v2 hierarchy."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TIMESCALE

from h7.errors import UsageError
from h7.sensor import procfs, selectors
from h7.sensor.selectors import Selector, parse, resolve


def test_parse_forms() -> None:
    assert parse("exe=/usr/bin/node") == Selector("exe", "/usr/bin/node")
    assert parse({"pid_file": "/run/a.pid"}) == Selector("pid_file", "/run/a.pid")
    assert parse("pid-file=/run/a.pid") == Selector("pid_file", "/run/a.pid")
    assert parse(42) == Selector("pid", "42")
    assert parse({"name": "coder", "exe": "/usr/bin/node"}) == Selector("exe", "/usr/bin/node", "coder")
    assert parse("cgroup=/sys/fs/cgroup/system.slice/x.service/") == Selector(
        "cgroup", "/system.slice/x.service"
    )
    assert parse("cgroup=system.slice") == Selector("cgroup", "/system.slice")
    for bad in ("exe=relative/path", "color=red", "pid=abc", {"exe": "/a", "pid": 1}, "exe=", 3.5):
        with pytest.raises(UsageError):
            parse(bad)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes], list[int]]]:
    """A parent running a copied executable, with a child running the same executable."""
    exe = tmp_path / "agentbin"
    exe.write_bytes(Path(os.path.realpath(sys.executable)).read_bytes())
    exe.chmod(0o755)
    code = (
        "import subprocess,sys,time; "
        "c=subprocess.Popen([sys.executable,'-c','import time; time.sleep(30)']); time.sleep(30)"
    )
    p = subprocess.Popen([str(exe), "-c", code])
    deadline = time.monotonic() + 10 * TIMESCALE
    children: list[int] = []
    while time.monotonic() < deadline and not children:
        children = (
            [int(c) for c in Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()]
            if Path(f"/proc/{p.pid}/task/{p.pid}/children").exists()
            else []
        )
        time.sleep(0.05)
    yield exe, p, children
    p.kill()
    p.wait()
    for c in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(c, 9)


def test_exe_matches_root_only(tree: tuple[Path, subprocess.Popen[bytes], list[int]]) -> None:
    exe, p, children = tree
    assert children, "child did not start"
    assert os.path.realpath(f"/proc/{children[0]}/exe") == str(exe)
    roots = resolve([parse(f"exe={exe}")])
    assert roots == [p.pid]  # the child is inside the parent's tree
    assert selectors.label_for(p.pid, [parse({"name": "research", "exe": str(exe)})]) == "research"
    assert selectors.label_for(p.pid, [parse({"name": "other", "exe": "/bin/true"})]) == ""
    assert resolve([parse(f"exe={exe}")], watched={p.pid}) == []


def test_pid_file(tmp_path: Path) -> None:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        f = tmp_path / "agent.pid"
        sel = parse(f"pid_file={f}")
        assert resolve([sel]) == []  # no file yet: nothing, no error
        f.write_text(f"{p.pid}\n")
        assert resolve([sel]) == [p.pid]
        f.write_text("garbage")
        assert resolve([sel]) == []
    finally:
        p.kill()
        p.wait()


def test_cgroup(tmp_path: Path) -> None:
    root = selectors.CGROUP_ROOT
    if os.geteuid() != 0 or not (root / "cgroup.procs").exists():
        pytest.skip("needs root and cgroup v2 at /sys/fs/cgroup")
    cg = root / f"h7-test-{uuid.uuid4().hex[:8]}"
    try:
        cg.mkdir()
    except OSError as e:
        pytest.skip(f"cannot create a cgroup here: {e}")
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (cg / "cgroup.procs").write_text(str(p.pid))
        assert procfs.cgroup_of(p.pid) == "/" + cg.name
        assert resolve([parse(f"cgroup={cg}")]) == [p.pid]
        assert resolve([parse(f"cgroup=/{cg.name}")]) == [p.pid]
    finally:
        p.kill()
        p.wait()
        for _ in range(50):
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.05)
