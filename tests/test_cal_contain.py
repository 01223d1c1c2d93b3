"""Operator containment on real process trees (SIGSTOP path and cgroup v2 freezer path)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import TIMESCALE
from test_cal_support import make_keys

from h7.cal import CalWriter, verify_chain, verify_file
from h7.errors import UsageError
from h7.sensor import contain as c

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

TREE = "sleep 300 & sleep 300 & sh -c 'sleep 300 & wait' & wait"


def _wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    timeout *= TIMESCALE  # a loaded or emulated host is slower, never faster
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.01) + 1):
        if cond():
            return True
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return cond()


def _kill_tree(root: int) -> None:
    for pid in list(c.process_tree(root)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def spawn_tree(preexec: Callable[[], None] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    p = subprocess.Popen(["sh", "-c", TREE], preexec_fn=preexec)
    try:
        # sh + 2 sleeps + sh + its sleep
        assert _wait_for(lambda: len(c.process_tree(p.pid)) >= 5), c.process_tree(p.pid)
        yield p
    finally:
        _kill_tree(p.pid)
        with contextlib.suppress(ProcessLookupError):
            p.kill()
        p.wait(timeout=30)


def _states(root: int) -> dict[int, str]:
    return {pid: st.state for pid, st in c.process_tree(root).items()}


def test_read_stat_handles_hostile_comm(tmp_path: Path) -> None:
    st = c.read_stat(os.getpid())
    assert st is not None and st.pid == os.getpid() and st.start_ticks > 0
    fake = tmp_path / "123"
    fake.mkdir()
    (fake / "stat").write_bytes(
        b"123 (a) b (c) S 1 123 123 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0 0 0 0 0 0 0 0 0 0 0 0 0"
    )
    st = c.read_stat(123, tmp_path)
    assert st is not None and st.comm == "a) b (c" and st.ppid == 1 and st.start_ticks == 777
    (fake / "stat").write_bytes(b"garbage")
    assert c.read_stat(123, tmp_path) is None


def test_sigstop_freezes_and_sigcont_thaws_the_whole_tree() -> None:
    with spawn_tree() as p:
        target = c.resolve_target(str(p.pid))
        assert target.root_pid == p.pid and target.agent_id.endswith(f":{p.pid}:{target.start_ticks}")
        info = c.freeze(target)
        assert info["method"] == "sigstop", info
        assert set(info["pids"]) == set(c.process_tree(p.pid)) and len(info["pids"]) >= 5
        assert info["not_stopped"] == []
        assert all(s == "T" for s in _states(p.pid).values()), _states(p.pid)
        out = c.thaw(c.resolve_target(target.agent_id))
        assert set(out["pids"]) == set(info["pids"])
        assert _wait_for(lambda: all(s != "T" for s in _states(p.pid).values())), _states(p.pid)


def test_recycled_pid_and_unsafe_targets_are_refused() -> None:
    with spawn_tree() as p:
        st = c.read_stat(p.pid)
        assert st is not None
        with pytest.raises(UsageError, match="recycled"):
            c.resolve_target(f"sh:{p.pid}:{st.start_ticks + 1}")
    with pytest.raises(UsageError, match="not running"):
        c.resolve_target(f"sh:{p.pid}:{st.start_ticks}")
    with pytest.raises(UsageError, match="init or a kernel thread"):
        c.resolve_target("1")
    with pytest.raises(UsageError, match="neither"):
        c.resolve_target("not-an-agent")
    with pytest.raises(UsageError, match="h7 itself"):
        c.freeze(c.resolve_target(str(os.getpid())))


def _cgroup2_root() -> Path | None:
    for root, mnt in c._cgroup2_mounts():
        if root == "/" and os.access(mnt, os.W_OK):
            return mnt
    return None


@pytest.fixture
def cgroup() -> Iterator[Path]:
    mnt = _cgroup2_root()
    if mnt is None or os.geteuid() != 0:
        pytest.skip("no writable cgroup v2 hierarchy")
    d = mnt / f"h7-test-{uuid.uuid4().hex[:8]}"
    try:
        d.mkdir()
    except OSError as e:
        pytest.skip(f"cannot create a cgroup: {e}")
    if not (d / "cgroup.freeze").exists():
        d.rmdir()
        pytest.skip("cgroup v2 freezer not available")
    try:
        yield d
    finally:
        with contextlib.suppress(OSError):
            (d / "cgroup.freeze").write_text("0")
        for _ in range(200):
            try:
                d.rmdir()
                break
            except OSError:
                time.sleep(0.02)


def test_cgroup_freezer_when_the_tree_is_alone_in_its_cgroup(cgroup: Path) -> None:
    procs = cgroup / "cgroup.procs"

    def enter() -> None:
        procs.write_text("0")

    with spawn_tree(enter) as p:
        target = c.resolve_target(str(p.pid))
        info = c.freeze(target)
        assert info["method"] == "cgroup2-freeze", info
        assert info["cgroup"] == "/" + cgroup.name
        assert c._cgroup_frozen(cgroup)
        out = c.thaw(target)
        assert out["method"] == "cgroup2-thaw+sigcont"
        assert not c._cgroup_frozen(cgroup)


def test_shared_cgroup_falls_back_to_sigstop(cgroup: Path) -> None:
    procs = cgroup / "cgroup.procs"

    def enter() -> None:
        procs.write_text("0")

    with spawn_tree(enter) as p, spawn_tree(enter) as other:
        info = c.freeze(c.resolve_target(str(p.pid)))
        assert info["method"] == "sigstop"  # freezing the cgroup would stop `other` too
        assert all(s != "T" for s in _states(other.pid).values())
        c.thaw(c.resolve_target(str(p.pid)))


def test_records_land_in_the_chain_with_operator_and_reason(tmp_path: Path) -> None:
    priv, pub = make_keys(tmp_path)
    with spawn_tree() as p, CalWriter(tmp_path / "cal", priv) as w:
        target = c.resolve_target(str(p.pid))
        info = c.freeze(target)
        uid, login = c.operator_identity()
        path, _ = w.record_operator_action(
            "CONTAINED_BY_OPERATOR", target.agent_id, "suspicious egress", uid, login, containment=info
        )
        cert = verify_file(path, pub)
        assert cert.action == "CONTAINED_BY_OPERATOR" and cert.agent_id == target.agent_id
        assert cert.body["operator"] == {"uid": os.getuid(), "login": login}
        assert cert.body["reason"] == "suspicious egress"
        assert cert.body["containment"]["pids"] == info["pids"]
        info = c.thaw(target)
        w.record_operator_action(
            "RELEASED_BY_OPERATOR", target.agent_id, "cleared", uid, login, containment=info
        )
        with pytest.raises(ValueError):
            w.record_operator_action("RELEASED_BY_OPERATOR", target.agent_id, "  ", uid, login)
        with pytest.raises(ValueError):
            w.record_operator_action("ALERT_EMITTED", target.agent_id, "x", uid, login)
    r = verify_chain(tmp_path / "cal", pub)
    assert r.ok and r.count == 2
