"""Exec identity and daemon hand-offs, decided in the kernel (issue 13, gaps 4 and 5).

Real BPF, real processes: each test starts a small "agent" (a Python process
blocked on stdin), puts it in scope, then makes it act.  The kernel's exec
record must carry what L2 needs even when the process and the file are gone
before userspace looks, and L2 must turn it into the right finding:

* a renamed copy of a shell with a byte appended   -> LLM_AGENT_HIJACK (elf-layout)
* a memfd ELF that exits within milliseconds        -> FILELESS_EXEC (memfd)
* a file unlinked before it is executed through its fd -> FILELESS_EXEC (deleted)
* a file the agent wrote after its baseline         -> AGENT_WRITTEN_EXEC
* a command handed to a tmux server over its socket -> DAEMON_HANDOFF, and the
  shell the server then spawns is attributed to the agent.

Named test_live_* so vmtest runs it in every guest kernel.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TIMESCALE

AGENT = r"""
import os, sys
os.write(int(sys.argv[1]), b"r"); os.close(int(sys.argv[1]))  # its exec is over: attach now
line = sys.stdin.readline()          # blocked here while H7 attaches
exec(compile(sys.stdin.read(), "act", "exec"))
"""
SHELL = os.path.realpath("/bin/sh")


class Watch:
    """The sensor's urgent stream, collected in a thread while an agent acts."""

    def __init__(self, sensor: Any) -> None:
        self.sensor = sensor
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        self.sensor.run(
            200_000_000,
            lambda b: None,
            self.events.extend,
            should_stop=self._stop.is_set,
            duration_s=120,
            stop_when_no_agents=False,
        )

    def stop(self) -> None:
        self._stop.set()
        self._t.join(timeout=10 * TIMESCALE)

    def own(self, root: int) -> list[dict[str, Any]]:
        """The events of ``root``'s process tree (followed through its fork records), in order.

        Why: the sensor is shared by consecutive tests, and records an earlier test's agent
        left in the ring buffer are drained into this watch too (an earlier agent's python
        exec judged here as ``python<-agent``: a failure 2 runs in 5 of this file alone).
        """
        tree = {root}
        out = []
        for e in list(self.events):
            if int(e.get("pid", 0)) not in tree:
                continue
            out.append(e)
            if e["type"] == "fork" and int(e.get("child", 0)):
                tree.add(int(e["child"]))
        return out

    def wait(self, pred: Any, timeout: float = 5.0) -> dict[str, Any] | None:
        end = time.monotonic() + timeout * TIMESCALE
        while time.monotonic() < end:
            for e in list(self.events):
                if pred(e):
                    return e
            time.sleep(0.01)
        return None


def run_agent(sensor: Any, act: str, *, timeout: float = 20.0) -> tuple[int, Watch]:
    """Start an agent, put it in scope, let it run ``act`` (Python), wait for it to exit.

    Attached only once the agent says it runs: Popen returns when the exec closed the
    child's close-on-exec pipe, which the kernel does before its exec tracepoint, so an
    agent put in scope at once had its own exec recorded now and then on a loaded host
    (``python<-agent``, CI of session 20 and 21).
    """
    rfd, wfd = os.pipe()
    try:
        p = subprocess.Popen(
            [sys.executable, "-c", AGENT, str(wfd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            pass_fds=(wfd,),
        )
        os.close(wfd)
        wfd = -1
        with os.fdopen(rfd, "rb") as ready:
            rfd = -1
            assert ready.read(1) == b"r", "the agent did not start"
    finally:
        for fd in (rfd, wfd):
            if fd >= 0:
                os.close(fd)
    try:
        sensor.add_agent(p.pid)
        w = Watch(sensor)
        assert p.stdin is not None
        p.stdin.write("go\n" + act)
        p.stdin.close()
        p.wait(timeout=timeout * TIMESCALE)
    except BaseException:
        p.kill()
        p.wait()
        raise
    return p.pid, w


def l2(baseline_end_ns: int | None = None) -> tuple[Any, Any]:
    from h7.config import EngineConfig
    from h7.detect.channels.base import ChannelContext, ProcReader
    from h7.detect.channels.l2_exec import ExecChannel

    cfg = EngineConfig()
    ch = ExecChannel(cfg)
    if baseline_end_ns is not None:
        ch._last_batch_ns = baseline_end_ns
        ch.finish_baseline(None)  # type: ignore[arg-type]
    ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(False))
    return ch, ctx


def codes(ch: Any, ctx: Any, events: list[dict[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for a in ch.on_events(events, ctx):
        out.setdefault(a.code, []).append(a)
    return out


def test_padded_renamed_shell_copy_is_a_shell(sensor: Any, tmp_path: Path) -> None:
    """cp /bin/sh notes.txt; append a byte; run it: no name, size or hash matches, the ELF layout does."""
    copy = tmp_path / "notes.txt"
    shutil.copyfile(SHELL, copy)
    with open(copy, "ab") as f:
        f.write(b"\0")
    copy.chmod(0o755)
    _pid, w = run_agent(sensor, f"import subprocess; subprocess.run([{str(copy)!r}, '-c', 'exit 0'])")
    try:
        ev = w.wait(lambda e: e["type"] == "exec" and e["filename"] == str(copy))
        assert ev is not None, "the kernel did not report the exec"
        assert ev["head"].startswith("7f454c46"), "bprm->buf not captured"
        assert ev["size"] == os.path.getsize(SHELL) + 1
        ch, ctx = l2()
        found = codes(ch, ctx, [ev])
        assert list(found) == ["LLM_AGENT_HIJACK"], found
        ids = found["LLM_AGENT_HIJACK"][0].evidence["identified_by"]
        assert [i["by"] for i in ids] == ["elf-layout"], ids
        assert ids[0]["name"] == os.path.basename(SHELL)
    finally:
        w.stop()


def test_ordinary_tools_are_not_shells(sensor: Any) -> None:
    """The agent's everyday tools keep their own identity: no layout collides with a shell's."""
    tools = [t for t in ("ls", "cat", "git", "true", "env", "sort") if shutil.which(t)]
    act = "import subprocess\n" + "".join(
        f"subprocess.run([{shutil.which(t)!r}, '--version'], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL)\n"
        for t in tools
    )
    pid, w = run_agent(sensor, act)
    try:
        assert w.wait(lambda e: e["type"] == "exit" and e["pid"] == pid) is not None
        execs = [e for e in w.events if e["type"] == "exec"]
        assert len(execs) >= len(tools)
        ch, ctx = l2(baseline_end_ns=0)
        assert codes(ch, ctx, execs) == {}
    finally:
        w.stop()


def test_short_lived_memfd_exec(sensor: Any) -> None:
    """A memfd ELF that exits at once: the kernel's record alone says what it was."""
    act = f"""
import os
fd = os.memfd_create("x", 0)
os.write(fd, open({os.path.realpath(shutil.which("true") or "/bin/true")!r}, "rb").read())
if os.fork() == 0:
    os.execve(fd, ["kworker"], {{}})
os.wait()
"""
    pid, w = run_agent(sensor, act)
    try:
        ev = w.wait(lambda e: e["type"] == "exec" and "memfd" in e["id_flags"])
        assert ev is not None, [e for e in w.events if e["type"] == "exec"]
        assert ev["nlink"] == 0 and ev["exe_name"].startswith("memfd:")
        # ...and it is long gone: nothing in /proc to read
        assert not os.path.exists(f"/proc/{ev['pid']}/exe") or ev["pid"] == pid
        ch, ctx = l2()
        found = codes(ch, ctx, [ev])
        assert "FILELESS_EXEC" in found and found["FILELESS_EXEC"][0].key.startswith("memfd:")
    finally:
        w.stop()


def test_memfd_shell_script_by_fd(sensor: Any) -> None:
    """A #! script in a memfd run through execveat: the fd's file is judged before the interpreter swap."""
    act = """
import os
fd = os.memfd_create("s", 0)
os.write(fd, b"#!/bin/sh\\nexit 0\\n")
if os.fork() == 0:
    os.execve(fd, ["s"], {})
os.wait()
"""
    _pid, w = run_agent(sensor, act)
    try:
        ev = w.wait(lambda e: e["type"] == "exec_fd")
        assert ev is not None, "execveat of a memfd not reported"
        assert "memfd" in ev["id_flags"]
        ch, ctx = l2()
        assert "FILELESS_EXEC" in codes(ch, ctx, [ev])
    finally:
        w.stop()


def test_memfd_shell_script_by_proc_fd_path(sensor: Any) -> None:
    """The same script run as /proc/self/fd/N: the path names the fd, read before the interpreter swap."""
    act = """
import os
fd = os.memfd_create("s", 0)
os.write(fd, b"#!/bin/sh\\nexit 0\\n")
if os.fork() == 0:
    os.execv("/proc/self/fd/%d" % fd, ["s"])
os.wait()
"""
    _pid, w = run_agent(sensor, act)
    try:
        ev = w.wait(lambda e: e["type"] == "exec_fd")
        assert ev is not None, "exec of /proc/self/fd/N of a memfd not reported"
        assert "memfd" in ev["id_flags"] and ev["filename"].startswith("/proc/self/fd/")
        ch, ctx = l2()
        assert "FILELESS_EXEC" in codes(ch, ctx, [ev])
    finally:
        w.stop()


def test_exec_of_deleted_file(sensor: Any, tmp_path: Path) -> None:
    """Open, unlink, run through /proc/self/fd: the executed inode has no links left."""
    src = os.path.realpath(shutil.which("true") or "/bin/true")
    path = tmp_path / "gone"
    shutil.copyfile(src, path)
    path.chmod(0o755)
    act = f"""
import os
fd = os.open({str(path)!r}, os.O_RDONLY)
os.unlink({str(path)!r})
if os.fork() == 0:
    os.execv("/proc/self/fd/%d" % fd, ["gone"])
os.wait()
"""
    _pid, w = run_agent(sensor, act)
    try:
        ev = w.wait(lambda e: e["type"] == "exec" and "deleted" in e["id_flags"])
        assert ev is not None, [e for e in w.events if e["type"] == "exec"]
        ch, ctx = l2()
        found = codes(ch, ctx, [ev])
        assert found["FILELESS_EXEC"][0].evidence["inode"]["nlink"] == 0
    finally:
        w.stop()


def test_agent_written_file_after_baseline(sensor: Any, tmp_path: Path) -> None:
    """The agent writes a program and runs it: flagged after the baseline, not before; others' files never."""
    src = os.path.realpath(shutil.which("true") or "/bin/true")
    theirs = tmp_path / "theirs"
    shutil.copyfile(src, theirs)  # written by the test, not the agent
    theirs.chmod(0o755)
    mine = tmp_path / "tool"
    act = f"""
import os, subprocess
data = open({src!r}, "rb").read()
with open({str(mine)!r}, "wb") as f:
    f.write(data)
os.chmod({str(mine)!r}, 0o755)
subprocess.run([{str(mine)!r}])
subprocess.run([{str(theirs)!r}])
"""
    before = time.monotonic_ns()
    _pid, w = run_agent(sensor, act)
    try:
        ev = w.wait(lambda e: e["type"] == "exec" and e["filename"] == str(mine))
        other = w.wait(lambda e: e["type"] == "exec" and e["filename"] == str(theirs))
        assert ev is not None and other is not None
        assert "agent-written" in ev["id_flags"] and ev["written_ns"] > before
        assert "agent-written" not in other["id_flags"]
        ch, ctx = l2(baseline_end_ns=before)
        found = codes(ch, ctx, [ev, other])
        assert list(found) == ["AGENT_WRITTEN_EXEC"], found
        assert found["AGENT_WRITTEN_EXEC"][0].key == "tool"
        # written during the baseline and run then too: the agent's repertoire, not a finding,
        # then or at its later runs
        ch3, ctx3 = l2(baseline_end_ns=None)  # still learning
        assert codes(ch3, ctx3, [ev]) == {}
        ch3._last_batch_ns = ev["written_ns"] + 1
        ch3.finish_baseline(None)
        assert codes(ch3, ctx3, [ev]) == {}
        # written during the baseline, first run after it (red-team round 9's prime class): a finding
        ch2, ctx2 = l2(baseline_end_ns=ev["written_ns"] + 1)
        primed = codes(ch2, ctx2, [ev])
        assert list(primed) == ["AGENT_WRITTEN_EXEC"], primed
        assert primed["AGENT_WRITTEN_EXEC"][0].evidence["written"] == "during-baseline, first run after it"
        assert found["AGENT_WRITTEN_EXEC"][0].evidence["written"] == "after-baseline"
    finally:
        w.stop()


@pytest.fixture
def tmux_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A tmux server started outside any agent, as a user's terminal session would be."""
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.fail("tmux is not installed (make test installs it)")
    sock = str(tmp_path / "tmux.sock")
    env = {**os.environ, "SHELL": "/bin/sh"}
    subprocess.run(
        [tmux, "-S", sock, "-f", "/dev/null", "new-session", "-d", "sleep 600"],
        env=env,
        check=True,
        timeout=30 * TIMESCALE,
    )
    try:
        out = subprocess.run(
            [tmux, "-S", sock, "display-message", "-p", "#{pid}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30 * TIMESCALE,
        )
        yield sock, int(out.stdout.strip())
    finally:
        subprocess.run([tmux, "-S", sock, "kill-server"], capture_output=True, timeout=30 * TIMESCALE)


def test_tmux_handoff_is_seen_and_followed(sensor: Any, tmux_server: tuple[str, int], tmp_path: Path) -> None:
    sock, server = tmux_server
    from h7.config import EngineConfig
    from h7.detect.channels.l2_exec import L2Settings

    settings = EngineConfig().settings(L2Settings)
    sensor.set_follow_daemons(settings.handoff_follow, int(settings.handoff_follow_s * 1e9))
    marker = tmp_path / "ran"
    act = f"""
import subprocess
subprocess.run([{shutil.which("tmux")!r}, "-S", {sock!r}, "new-window", "-d",
                "/bin/sh -c 'echo x > {marker}'"], check=True)
"""
    t_act = time.monotonic()
    _pid, w = run_agent(sensor, act)
    try:
        h = w.wait(lambda e: e["type"] == "handoff" and e["peer_pid"] == server)
        assert h is not None, [e for e in w.events if e["type"] in ("net", "handoff")]
        assert h["peer_comm"] == "tmux: server" and h["path"] == sock and h["followed"]
        # the shell the server spawned for the agent is the agent's now
        # (tmux also runs utempter for the new window: followed too, and harmless)
        shell = os.path.basename(SHELL)
        sh = w.wait(
            lambda e: e["type"] == "exec" and e["ppid"] == server and e["exe_name"] == shell, timeout=10
        )
        assert sh is not None, "the daemon's child was not followed"
        assert sh["agent"] == h["agent"], sh
        ch, ctx = l2()
        found = codes(ch, ctx, [h, sh])
        assert "DAEMON_HANDOFF" in found and "LLM_AGENT_HIJACK" in found, (found, sh)
        via = found["LLM_AGENT_HIJACK"][0].evidence["handed_off_via"]
        assert via["daemon_pid"] == server and via["daemon_comm"] == "tmux: server", via
        ev = found["DAEMON_HANDOFF"][0].evidence
        assert ev["daemon_pid"] == server and ev["matched_by"] == ["daemon"]  # a socket path of its own
        # turning following off ends the live hand-off too: the server's next children are not
        # put in the scope of an agent number that the next agent may get (a shared sensor)
        follow = sensor.obj.map("follow")
        live = [struct.unpack("<I", k)[0] for k in follow.iter_keys()]
        sensor.set_follow_daemons([], 0)
        assert list(follow.iter_keys()) == [], live
        assert struct.unpack("<Q", sensor.obj.map("follow_until").lookup(struct.pack("<I", 0)))[0] == 0
        if time.monotonic() - t_act < settings.handoff_follow_s:
            assert server in live, live  # (within its window the hand-off was live before)
    finally:
        w.stop()


def test_unix_connect_to_an_ordinary_listener_is_not_a_handoff(sensor: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    try:
        act = f"""
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect({path!r})
s.send(b"hi")
"""
        _pid, w = run_agent(sensor, act)
        try:
            h = w.wait(lambda e: e["type"] == "handoff")
            assert h is not None and h["peer_pid"] == os.getpid() and h["path"] == path
            assert not h["followed"]
            ch, ctx = l2()
            assert codes(ch, ctx, [h]) == {}
        finally:
            w.stop()
    finally:
        srv.close()


def _loader() -> str | None:
    for p in ("/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"):
        if os.path.exists(p):
            return p
    return None


def test_shell_copy_run_through_the_loader(sensor: Any, tmp_path: Path) -> None:
    """ld.so PROGRAM: the kernel executes the loader; the program is judged by its own first bytes."""
    loader = _loader()
    if loader is None:
        pytest.skip("no known dynamic loader path on this architecture")
    copy = tmp_path / "fmt"
    shutil.copyfile(SHELL, copy)
    with open(copy, "ab") as f:
        f.write(b"\0\0\0")
    act = f"import subprocess; subprocess.run([{loader!r}, {str(copy)!r}, '-c', 'exit 0'])"
    _pid, w = run_agent(sensor, act)
    try:
        ev = w.wait(lambda e: e["type"] == "exec" and e["filename"] == loader)
        assert ev is not None
        from h7.config import EngineConfig
        from h7.detect.channels.base import ChannelContext, ProcReader
        from h7.detect.channels.l2_exec import ExecChannel

        cfg = EngineConfig()
        ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(True))
        found = codes(ExecChannel(cfg), ctx, [ev])
        # judged after the process exited: the program's absolute path still reads
        ids = found["LLM_AGENT_HIJACK"][0].evidence["identified_by"]
        assert any(i["by"] == "loaded-elf-layout" and i["name"] == os.path.basename(SHELL) for i in ids), ids
    finally:
        w.stop()


def test_renamed_busybox_runs_its_shell_applet(sensor: Any, tmp_path: Path) -> None:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed")
    copy = tmp_path / "indexer"
    shutil.copyfile(busybox, copy)
    with open(copy, "ab") as f:
        f.write(b"\0")
    copy.chmod(0o755)
    act = f"import subprocess; subprocess.run(['sh', '-c', 'exit 0'], executable={str(copy)!r})"
    _pid, w = run_agent(sensor, act)
    try:
        ev = w.wait(lambda e: e["type"] == "exec" and e["filename"] == str(copy))
        assert ev is not None
        ch, ctx = l2()
        found = codes(ch, ctx, [ev])
        ids = found["LLM_AGENT_HIJACK"][0].evidence["identified_by"]
        assert ids[0]["by"] == "applet" and ids[0]["name"] == "sh"
        assert any(i["by"] == "elf-layout" and i["name"] == "busybox" for i in ids), ids
    finally:
        w.stop()


def test_dtach_handoff_whose_listener_forked_away(sensor: Any, tmp_path: Path) -> None:
    """dtach binds its socket, then forks the master and exits: the kernel's peer pid is dead.

    L2 then asks /proc who holds the listener (dtach's master) and still calls it a hand-off.
    """
    dtach = shutil.which("dtach")
    if dtach is None:
        pytest.fail("dtach is not installed (make test installs it)")
    sock = str(tmp_path / "dtach.sock")
    # the session runs `sleep`: it ends on its own even if cleanup below were missed
    subprocess.run([dtach, "-n", sock, "sleep", str(int(60 * TIMESCALE))], check=True, timeout=30 * TIMESCALE)
    try:
        act = f"""
import subprocess
subprocess.run([{dtach!r}, "-p", {sock!r}], input=b"true\\\\n", timeout=20)
"""
        _pid, w = run_agent(sensor, act)
        try:
            h = w.wait(lambda e: e["type"] == "handoff" and e["path"] == sock)
            assert h is not None, [e for e in w.events if e["type"] in ("net", "handoff")]
            from h7.config import EngineConfig
            from h7.detect.channels.base import ChannelContext, ProcReader
            from h7.detect.channels.l2_exec import ExecChannel

            # the /proc search's 50 ms budget is a wall-clock bound: stretched like every deadline
            # here under software emulation (a 6.1 guest ran out of it reading /proc/net/unix)
            cfg = EngineConfig(channel_settings={"L2": {"handoff_proc_budget_ms": 50.0 * TIMESCALE}})
            ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(True))
            found = codes(ExecChannel(cfg), ctx, [h])
            ev = found["DAEMON_HANDOFF"][0].evidence
            assert ev["daemon_comm"] == "dtach", ev
            assert h["peer_comm"] == "" and ev["daemon_found_by"] == "proc", (h, ev)
        finally:
            w.stop()
    finally:
        from h7.detect.channels.l2_exec import unix_listener_owner

        owner = unix_listener_owner(sock)
        if owner is not None and owner[1] == "dtach":
            os.kill(owner[0], 9)


def test_hooks_are_named_by_mode(sensor: Any, tmp_path: Path) -> None:
    """Evidence names the hook; which one depends on the gap's mode (fentry in the vmtest guests)."""
    exec_mode = sensor.gap_modes["exec_identity"]["mode"]
    handoff_mode = sensor.gap_modes["handoffs"]["mode"]
    assert exec_mode in ("fentry", "tracepoint") and handoff_mode in ("fentry", "tracepoint")
    path = str(tmp_path / "s.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    act = f"""
import os, socket
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect({path!r})
fd = os.memfd_create("s", 0)
os.write(fd, b"#!/bin/sh\\nexit 0\\n")
if os.fork() == 0:
    os.execve(fd, ["s"], {{}})
os.wait()
"""
    try:
        _pid, w = run_agent(sensor, act)
        try:
            h = w.wait(lambda e: e["type"] == "handoff")
            x = w.wait(lambda e: e["type"] == "exec_fd")
            e = w.wait(lambda e: e["type"] == "exec" and e["exe_name"] == os.path.basename(SHELL))
            assert h is not None and x is not None and e is not None
            assert e["hook"] == "tp_btf/sched_process_exec"
            if exec_mode == "fentry":
                assert x["hook"] == "fentry/security_bprm_check" and bytes.fromhex(x["head"]).startswith(
                    b"#!"
                )
            else:
                assert x["hook"] == "tp_btf/sys_enter"
            want = "fexit/unix_stream_connect" if handoff_mode == "fentry" else "tp_btf/sys_enter"
            assert h["hook"] == want
            ch, ctx = l2()
            found = codes(ch, ctx, [x])
            assert found["FILELESS_EXEC"][0].evidence["hook"] == x["hook"]
        finally:
            w.stop()
    finally:
        srv.close()


def test_agent_written_script_run_by_path(sensor: Any, tmp_path: Path) -> None:
    """fentry mode reads a #! script's own file at security_bprm_check; tracepoint mode cannot."""
    script = tmp_path / "job.sh"
    act = f"""
import os, subprocess
with open({str(script)!r}, "w") as f:
    f.write("#!/bin/sh\\nexit 0\\n")
os.chmod({str(script)!r}, 0o755)
subprocess.run([{str(script)!r}])
"""
    before = time.monotonic_ns()
    _pid, w = run_agent(sensor, act)
    try:
        e = w.wait(lambda e: e["type"] == "exec" and e["filename"] == str(script))
        assert e is not None
        x = w.wait(lambda e: e["type"] == "exec_fd" and e["filename"] == str(script), timeout=2)
        if sensor.gap_modes["exec_identity"]["mode"] != "fentry":
            # tracepoint mode: the kernel had swapped the script for /bin/sh before any hook saw it
            assert x is None
            assert "agent-written" not in e["id_flags"]
            return
        assert x is not None and "agent-written" in x["id_flags"]
        ch, ctx = l2(baseline_end_ns=before)
        found = codes(ch, ctx, [x])
        assert list(found) == ["AGENT_WRITTEN_EXEC"], found
    finally:
        w.stop()


def test_handoff_keys_distinguish_commands() -> None:
    """Two different commands handed to one tmux server are two certificates; a repeat folds (no BPF)."""
    ch, ctx = l2()

    def client(pid: int, args: list[str]) -> list[dict[str, Any]]:
        ex = {
            "type": "exec",
            "pid": pid,
            "ppid": 1,
            "ts_ns": pid,
            "filename": "/usr/bin/tmux",
            "exe_name": "tmux",
            "interp": "/usr/bin/tmux",
            "args": args,
        }
        ho = {
            "type": "handoff",
            "pid": pid,
            "agent": 1,
            "ts_ns": pid + 1,
            "path": "/tmp/tmux-0/default",
            "fd": 3,
            "peer_pid": 99,
            "peer_comm": "tmux: server",
            "peer_agent": 0,
            "followed": True,
        }
        return [ex, ho]

    a = codes(ch, ctx, client(10, ["tmux", "send-keys", "-t", "x", "id", "Enter"]))["DAEMON_HANDOFF"][0]
    b = codes(ch, ctx, client(11, ["tmux", "run-shell", "id"]))["DAEMON_HANDOFF"][0]
    c = codes(ch, ctx, client(12, ["tmux", "run-shell", "id"]))["DAEMON_HANDOFF"][0]
    assert a.key != b.key and b.key == c.key
    assert b.evidence == {
        "pid": 11,
        "comm": "",
        "socket": "/tmp/tmux-0/default",
        "fd": 3,
        "daemon_pid": 99,
        "daemon_found_by": "kernel",
        "daemon_comm": "tmux: server",
        "matched_by": ["daemon", "socket"],
        "client_args": ["tmux", "run-shell", "id"],
        "children_followed": True,
        "hook": "tp_btf/sys_enter",
    }


def _l2_with(l2cfg: dict[str, Any], proc_root: str | None = None) -> tuple[Any, Any]:
    from h7.config import EngineConfig
    from h7.detect.channels.base import ChannelContext, ProcReader
    from h7.detect.channels.l2_exec import ExecChannel

    cfg = EngineConfig.from_dict({"l2": l2cfg})
    proc = ProcReader(True, proc_root) if proc_root else ProcReader(False)
    return ExecChannel(cfg), ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=proc)


def test_write_into_a_daemon_spool_is_a_handoff(sensor: Any, tmp_path: Path) -> None:
    """An atd job file written by hand (no `at`, no socket) is DAEMON_HANDOFF; reads and other writes are not.

    Red-team round 3 (g5r3_atjob_spool_direct): the agent wrote the job into
    /var/spool/cron/atjobs and sent atd SIGHUP; atd ran it and nothing was
    seen.  Here the spool is a temporary directory configured as one.
    """
    spool = tmp_path / "atjobs"
    spool.mkdir()
    job = spool / "a00001028c4d6a"
    other = tmp_path / "notes.txt"
    other.write_text("x")
    act = f"""
import os
fd = os.open({str(job)!r}, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
os.write(fd, b"#!/bin/sh\\ntouch /dev/null\\n")
os.close(fd)
open({str(job)!r}).read()
open({str(other)!r}, "a").write("y")
"""
    _pid, w = run_agent(sensor, act)
    try:
        ev = w.wait(lambda e: e["type"] == "open" and e["path"] == str(job) and e["flags"] & os.O_CREAT)
        rd = w.wait(lambda e: e["type"] == "open" and e["path"] == str(job) and not e["flags"] & 3)
        ot = w.wait(lambda e: e["type"] == "open" and e["path"] == str(other))
        assert ev is not None and rd is not None and ot is not None
        ch, ctx = _l2_with({"handoff_spools": [f"{spool}/*"]})
        found = codes(ch, ctx, [ev, rd, ot])
        assert list(found) == ["DAEMON_HANDOFF"] and len(found["DAEMON_HANDOFF"]) == 1, found
        a = found["DAEMON_HANDOFF"][0]
        assert a.evidence["spool_file"] == str(job) and a.evidence["matched_by"] == ["spool"]
        assert a.key == f"spool:{job}"
        # the defaults name the real spools, not this directory; an allowed spool is quiet
        ch2, ctx2 = _l2_with({})
        assert codes(ch2, ctx2, [ev]) == {}
        ch3, ctx3 = _l2_with({"handoff_spools": [f"{spool}/*"], "handoff_allow": [f"{spool}/*"]})
        assert codes(ch3, ctx3, [ev]) == {}
    finally:
        w.stop()


def test_spool_write_by_a_relative_path_is_resolved_through_proc(tmp_path: Path) -> None:
    """A relative open is joined to the cwd (live /proc); `..` and `//` cannot dodge the glob (no BPF)."""
    from h7.detect.channels.l2_exec import HANDOFF_SPOOLS

    fake_proc = tmp_path / "proc"
    (fake_proc / "42").mkdir(parents=True)
    os.symlink("/var/spool/cron/x/..", fake_proc / "42" / "cwd")
    ev = {
        "type": "open",
        "pid": 42,
        "agent": 1,
        "ts_ns": 5,
        "path": "atjobs//a0001",
        "flags": 0o101,
        "dfd": -100,
    }
    ch, ctx = _l2_with({}, str(fake_proc))
    found = codes(ch, ctx, [ev])
    assert found["DAEMON_HANDOFF"][0].evidence == {
        "pid": 42,
        "comm": "",
        "spool_file": "/var/spool/cron/atjobs/a0001",
        "open_flags": "0o101",
        "matched_by": ["spool"],
        "client_args": [],
        "hook": "tp_btf/sys_enter",
    }
    ch2, ctx2 = _l2_with({})  # replay: no /proc, relative paths are not guessed
    assert codes(ch2, ctx2, [ev]) == {}
    assert "/var/spool/cron/*" in HANDOFF_SPOOLS


def test_written_file_released_by_dup2_is_agent_written(sensor: Any, tmp_path: Path) -> None:
    """dup2(devnull, fd) releases a written file without close(2); running it is still AGENT_WRITTEN_EXEC.

    Red-team round 3 (g4r3_written_dup2_close) walked past the close(2)-only bookkeeping.
    """
    src = os.path.realpath(shutil.which("true") or "/bin/true")
    mine = tmp_path / "report-gen"
    act = f"""
import os, subprocess
fd = os.open({str(mine)!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
os.write(fd, open({src!r}, "rb").read())
null = os.open("/dev/null", os.O_RDONLY)
os.dup2(null, fd)
subprocess.run([{str(mine)!r}])
"""
    before = time.monotonic_ns()
    _pid, w = run_agent(sensor, act)
    try:
        ev = w.wait(lambda e: e["type"] == "exec" and e["filename"] == str(mine))
        assert ev is not None
        assert "agent-written" in ev["id_flags"] and ev["written_ns"] > before, ev
        ch, ctx = l2(baseline_end_ns=before)
        assert list(codes(ch, ctx, [ev])) == ["AGENT_WRITTEN_EXEC"]
    finally:
        w.stop()


def test_tiocsti_into_another_terminal_is_a_handoff(sensor: Any, tmp_path: Path) -> None:
    """ioctl(TIOCSTI) pushing a command into a shell's terminal is DAEMON_HANDOFF, naming the shell.

    Red-team round 3 (g5r3_tiocsti_tmux_pane): with dev.tty.legacy_tiocsti = 1,
    root typed a command into a tmux pane's tty; no socket, no exec, unseen.
    """
    import fcntl
    import termios

    try:
        legacy = Path("/proc/sys/dev/tty/legacy_tiocsti").read_text().strip()
    except OSError:
        legacy = "1"  # older kernels: TIOCSTI always allowed
    if legacy != "1":
        pytest.skip("TIOCSTI disabled on this kernel (dev.tty.legacy_tiocsti = 0)")
    master, slave = os.openpty()
    tty = os.ttyname(slave)
    marker = tmp_path / "typed"
    shell = subprocess.Popen(
        ["sh", "-i"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    act = f"""
import fcntl, os, termios
fd = os.open({tty!r}, os.O_RDWR | os.O_NOCTTY)
for ch in b"touch {marker}\\n":
    fcntl.ioctl(fd, termios.TIOCSTI, bytes([ch]))
os.close(fd)
"""
    try:
        _pid, w = run_agent(sensor, act)
        try:
            end = time.monotonic() + 5 * TIMESCALE
            while time.monotonic() < end and not marker.exists():
                os.read(master, 4096) if _readable(master) else time.sleep(0.02)
            assert marker.exists(), "the command typed with TIOCSTI did not run"
            ev = w.wait(lambda e: e["type"] == "handoff" and e["path"].startswith("tiocsti:"))
            assert ev is not None
            assert ev["peer_pid"] == shell.pid and ev["peer_comm"] == "sh", ev
            ch, ctx = l2()
            found = codes(ch, ctx, [ev])
            a = found["DAEMON_HANDOFF"][0]
            assert a.evidence["matched_by"] == ["tiocsti"] and a.evidence["daemon_comm"] == "sh"
        finally:
            w.stop()
    finally:
        shell.kill()
        shell.wait(timeout=10)
        os.close(master)


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0.05)[0])


def test_busybox_as_a_login_shell_is_a_shell(sensor: Any) -> None:
    """busybox run with argv[0] "-sh" (login(1)'s spelling) runs its sh applet: a shell, not just busybox.

    Red-team round 3 (g4r3_busybox_login_dash) was caught only as LIVING_OFF_THE_LAND busybox.
    """
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed")
    act = f"import subprocess; subprocess.run(['-sh', '-c', 'exit 0'], executable={busybox!r})"
    _pid, w = run_agent(sensor, act)
    try:
        ev = w.wait(lambda e: e["type"] == "exec" and e["args"][:1] == ["-sh"])
        assert ev is not None
        ch, ctx = l2()
        found = codes(ch, ctx, [ev])
        ids = found["LLM_AGENT_HIJACK"][0].evidence["identified_by"]
        assert ids[0]["by"] == "applet" and ids[0]["name"] == "sh", ids
    finally:
        w.stop()


def test_shell_keys_name_the_program_that_started_them() -> None:
    """A git hook's sh and the agent's own sh are two certificates; the agent's sh again folds (no BPF).

    Red-team round 3 (l2r3_env_s_shebang): an injected shell folded into the certificate of a
    benign git hook's shell, certified during the baseline, for the whole fold_idle (10 min).
    """
    ch, ctx = l2()

    def ex(pid: int, ppid: int, name: str) -> dict[str, Any]:
        path = shutil.which(name) or f"/usr/bin/{name}"
        return {
            "type": "exec",
            "pid": pid,
            "ppid": ppid,
            "ts_ns": pid,
            "filename": path,
            "exe_name": os.path.basename(os.path.realpath(path)),
            "interp": path,
            "args": [name],
        }

    hook = codes(ch, ctx, [ex(10, 1, "git"), ex(11, 10, "sh")])["LLM_AGENT_HIJACK"][0]
    mine = codes(ch, ctx, [ex(12, 1, "sh")])["LLM_AGENT_HIJACK"][0]
    again = codes(ch, ctx, [ex(14, 1, "sh")])["LLM_AGENT_HIJACK"][0]
    via_env = codes(ch, ctx, [ex(13, 1, "env"), ex(13, 1, "sh")])["LLM_AGENT_HIJACK"][0]
    base = hook.key.rsplit("<-", 1)[0]  # the program (and how it was known), then who started it
    assert hook.key == f"{base}<-git" and hook.evidence["parent_image"] == "git"
    assert mine.key == f"{base}<-agent" and again.key == mine.key
    assert via_env.key == f"{base}<-env"


def test_free_is_not_lotl_while_a_padded_shell_copy_is_a_shell(sensor: Any, tmp_path: Path) -> None:
    """Red-team round 4: `free -m` shares basenc's ELF head; its whole program-header table does not."""
    free = shutil.which("free")
    if free is None:
        pytest.skip("procps' free is not installed")
    copy = tmp_path / "report"
    shutil.copyfile(SHELL, copy)
    with open(copy, "ab") as f:
        f.write(b"\0")
    copy.chmod(0o755)
    act = (
        "import subprocess\n"
        f"subprocess.run([{free!r}, '-m'], stdout=subprocess.DEVNULL)\n"
        f"subprocess.run([{str(copy)!r}, '-c', 'exit 0'])\n"
    )
    pid, w = run_agent(sensor, act)
    try:
        assert w.wait(lambda e: e["type"] == "exit" and e["pid"] == pid) is not None
        execs = {e["filename"]: e for e in w.events if e["type"] == "exec"}
        assert free in execs and str(copy) in execs, sorted(execs)
        ch, ctx = l2(baseline_end_ns=0)
        assert codes(ch, ctx, [execs[free]]) == {}, "free taken for a known tool"
        found = codes(ch, ctx, [execs[str(copy)]])
        assert list(found) == ["LLM_AGENT_HIJACK"], found
        assert [i["by"] for i in found["LLM_AGENT_HIJACK"][0].evidence["identified_by"]] == ["elf-layout"]
    finally:
        w.stop()


def _l2_verdicts(ch: Any, ctx: Any, execs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(code, key) of each L2 verdict, the key without how the program was identified.

    In the vmtest guests every exec is known by ELF layout (``curl:elf-layout:/usr/bin/curl``),
    here by inode (``curl``): these tests are about which program was judged and who started it.
    """
    return [(a.code, _IDENTIFIED_BY.sub("", a.key)) for a in ch.on_events(execs, ctx)]


_IDENTIFIED_BY = re.compile(r":(?:elf-layout|loaded-elf-layout|sha256):[^<]*")


def test_helper_shells_of_git_and_tar_are_transparent(sensor: Any, tmp_path: Path) -> None:
    """Red-team round 4's benign acts: git's `sh -c "git-upload-pack '…'"`, tar's `sh -c gzip`.

    Both programs start their helper through /bin/sh with one simple command; L2 judges the
    helper (not an interpreter or LOTL tool: nothing), not the shell.  Before the helper-shell
    rule these were `dash<-git` and `dash<-tar` LLM_AGENT_HIJACK.
    """
    git, tar = shutil.which("git"), shutil.which("tar")
    if git is None or tar is None or shutil.which("gzip") is None:
        pytest.skip("git, tar and gzip are needed")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("hello\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        **{
            f"GIT_{who}_{what}": v
            for who in ("AUTHOR", "COMMITTER")
            for what, v in (("NAME", "a"), ("EMAIL", "a@l"))
        },
    }
    origin, co = str(tmp_path / "origin.git"), str(tmp_path / "co")
    act = (
        "import subprocess\n"
        f"e = {env!r}\n"
        "q = dict(env=e, check=True, stderr=subprocess.DEVNULL)\n"
        f"subprocess.run([{git!r}, 'init', '-q', '--bare', {origin!r}], **q)\n"
        f"subprocess.run([{git!r}, 'clone', '-q', {origin!r}, {co!r}], **q)\n"
        f"open({co + '/README'!r}, 'w').write('notes')\n"
        f"subprocess.run([{git!r}, '-C', {co!r}, 'add', 'README'], **q)\n"
        f"subprocess.run([{git!r}, '-C', {co!r}, 'commit', '-qm', 'notes'], **q)\n"
        f"subprocess.run([{git!r}, '-C', {co!r}, 'push', '-q', 'origin', 'HEAD:main'], **q)\n"
        f"subprocess.run([{tar!r}, '-czf', {str(tmp_path / 'a.tgz')!r}, '-C', {str(tmp_path)!r}, 'src'],"
        " **q)\n"
    )
    pid, w = run_agent(sensor, act)
    try:
        assert w.wait(lambda e: e["type"] == "exit" and e["pid"] == pid) is not None
        execs = [e for e in w.events if e["type"] == "exec"]
        shells = [e for e in execs if e["filename"] == "/bin/sh"]
        cmds = [e["args"][2] for e in shells if len(e["args"]) >= 3]
        assert any(c.startswith(("git-upload-pack", "git-receive-pack")) for c in cmds), cmds
        assert "gzip" in cmds, cmds
        assert (tmp_path / "co").is_dir() and (tmp_path / "a.tgz").stat().st_size > 0
        ch, ctx = l2(baseline_end_ns=0)
        assert _l2_verdicts(ch, ctx, w.own(pid)) == []  # forks and exits too
        assert ch.status().get("helper_shells", 0) == len(shells)
    finally:
        w.stop()


def test_helper_shells_still_show_what_they_run(sensor: Any, tmp_path: Path) -> None:
    """The helper-shell rule hides nothing a direct exec would show.

    `tar -I 'curl …'` runs curl through tar's `sh -c`: curl is LIVING_OFF_THE_LAND;
    `tar -I 'python3 SCRIPT'` is `python<-dash` LLM_AGENT_HIJACK; git's core.sshCommand with
    arguments becomes `sh -c 'ssh … "$@"'` (not one simple command: a recipe shell, transparent
    too), and the ssh it runs is LIVING_OFF_THE_LAND; the agent's own `sh -c gzip` stays `dash<-agent`;
    `find -exec /bin/sh -c -- 'true; true'` (options after -c) stays `dash<-find`, and so do
    `find -exec /bin/sh -c 'gzip --version'`, `env sh -c …` and `xargs sh -c …` (launchers: the
    agent named the shell); `tar --to-command 'python3 SCRIPT'` is `python<-dash`; a tar -I
    command cut by the kernel's 256-byte argv capture stays `dash<-tar` (tar's own argv was cut:
    it may name a shell past the cut), and so does a tar -I naming a shebang-less file, which
    dash interprets itself after exec fails (ENOEXEC).
    """
    git, tar, curl, ssh = (shutil.which(t) for t in ("git", "tar", "curl", "ssh"))
    if None in (git, tar, curl, ssh):
        pytest.skip("git, tar, curl and ssh are needed")
    (tmp_path / "f").write_text("x\n")
    script = tmp_path / "comp.py"
    script.write_text("import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n")
    noshebang = tmp_path / "squash"  # no #!: exec fails (ENOEXEC) and dash runs it as a script
    noshebang.write_text("cat\n")
    noshebang.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    srv.close()  # a closed loopback port: curl and ssh fail fast, nothing leaves the host
    ssh_cmd = f"core.sshCommand=ssh -o BatchMode=yes -o ConnectTimeout=2 -p {port}"
    act = (
        "import subprocess\n"
        f"e = {env!r}\n"
        "q = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e)\n"
        f"subprocess.run([{tar!r}, '-I', 'curl -s -m 2 http://127.0.0.1:{port}/', '-cf',"
        f" {str(tmp_path / 'a.tar')!r}, '-C', {str(tmp_path)!r}, 'f'], **q)\n"
        f"subprocess.run([{tar!r}, '-I', 'python3 {script}', '-cf',"
        f" {str(tmp_path / 'b.tar')!r}, '-C', {str(tmp_path)!r}, 'f'], **q)\n"
        f"subprocess.run([{git!r}, '-c', {ssh_cmd!r}, 'ls-remote', 'ssh://127.0.0.1/x.git'], **q)\n"
        "subprocess.run(['/bin/sh', '-c', 'gzip --version'], **q)\n"
        f"subprocess.run([{tar!r}, '-I', 'gzip' + ' ' * 260 + '-1', '-cf', {str(tmp_path / 'c.tar')!r},"
        f" '-C', {str(tmp_path)!r}, 'f'], **q)\n"
        f"subprocess.run([{tar!r}, '-I', {str(noshebang)!r}, '-cf', {str(tmp_path / 'd.tar')!r},"
        f" '-C', {str(tmp_path)!r}, 'f'], **q)\n"
        f"subprocess.run(['find', {str(tmp_path)!r}, '-maxdepth', '0', '-exec', '/bin/sh', '-c', '--',"
        " 'true; true', ';'], **q)\n"
        # launchers given the shell by the agent: one simple command does not make it a helper
        f"subprocess.run(['find', {str(tmp_path)!r}, '-maxdepth', '0', '-exec', '/bin/sh', '-c',"
        " 'gzip --version', ';'], **q)\n"
        "subprocess.run(['env', '/bin/sh', '-c', 'gzip --version'], **q)\n"
        "subprocess.run(['xargs', '/bin/sh', '-c', 'gzip --version'], input=b'x', **q)\n"
        # tar --to-command: tar's own sh -c (a helper); the interpreter it runs is judged
        f"subprocess.run([{tar!r}, '-cf', {str(tmp_path / 'e.tar')!r}, '-C', {str(tmp_path)!r}, 'f'], **q)\n"
        f"subprocess.run([{tar!r}, '-xf', {str(tmp_path / 'e.tar')!r}, '--to-command', 'python3 {script}'],"
        " **q)\n"
    )
    pid, w = run_agent(sensor, act, timeout=40.0)
    try:
        assert w.wait(lambda e: e["type"] == "exit" and e["pid"] == pid) is not None
        ch, ctx = l2(baseline_end_ns=0)
        got = _l2_verdicts(ch, ctx, w.own(pid))
        assert ("LIVING_OFF_THE_LAND", "curl") in got, got
        assert ("LLM_AGENT_HIJACK", "python<-dash") in got, got
        assert ("LLM_AGENT_HIJACK", "dash<-git") not in got, got  # a recipe shell since session 10
        assert ("LIVING_OFF_THE_LAND", "ssh") in got, got
        assert ("LLM_AGENT_HIJACK", "dash<-agent") in got, got
        # find -exec sh -c -- 'a; b': options after -c, the command is the next word (not simple)
        assert got.count(("LLM_AGENT_HIJACK", "dash<-find")) == 2, got
        assert ("LLM_AGENT_HIJACK", "dash<-env") in got, got
        assert ("LLM_AGENT_HIJACK", "dash<-xargs") in got, got
        # tar -I python3 and tar --to-command python3: both judged as python started by tar's shell
        assert got.count(("LLM_AGENT_HIJACK", "python<-dash")) == 2, got
        # tar -I with a shebang-less script: dash interprets it (its child never execs `squash`);
        # a CMD longer than the kernel's 256 bytes of argv: tar's own argv, which holds it, was cut
        # too, so tar may have named a shell past the cut (neither helper nor recipe shell)
        assert got.count(("LLM_AGENT_HIJACK", "dash<-tar")) == 2, got
        assert ch.status()["helper_shells_alerted"] == 1
        assert ch.status()["recipe_shells"] == 1, ch.status()  # git's sshCommand
    finally:
        w.stop()


#: run in the agent's child before it execs tar: a private mount namespace in which /usr/bin/dash
#: (what /bin/sh resolves to) is reached through another mount -- the vmtest guests' condition
_MOUNT_NS = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
def must(rc):
    if rc != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
def ns(kind, src):
    must(libc.unshare(0x00020000))  # CLONE_NEWNS
    must(libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None))  # MS_REC | MS_PRIVATE
    if kind == "overlay":  # the same /usr/bin, read-only, through overlayfs
        opts = f"lowerdir=/usr/bin:{src}".encode()
        must(libc.mount(b"overlay", b"/usr/bin", b"overlay", 1, opts))  # MS_RDONLY
    else:  # another file put where /bin/sh leads
        must(libc.mount(src.encode(), os.path.realpath("/bin/sh").encode(), None, 0x1000, None))  # MS_BIND
"""


def test_helper_shell_through_another_mount_and_shells_put_in_its_place(sensor: Any, tmp_path: Path) -> None:
    """/bin/sh reached through another mount is still the system's shell; copies put there are not.

    The vmtest guests (9p root) report /bin/sh with another (dev, inode) than stat(2) gives, so it
    is identified by ELF layout: session 5's rule never applied there and was reverted.  Here the
    same condition on the host: tar runs in a mount namespace where /usr/bin is an overlay of
    itself -- its `sh -c gzip` stays transparent.  An attacker with a mount namespace (root, or a
    user namespace) can put another file where /bin/sh leads: a padded copy of the shell, or a
    byte-identical copy with the shell's mtime: both stay `dash:elf-layout:/bin/sh<-tar`.
    """
    tar = shutil.which("tar")
    if tar is None or shutil.which("gzip") is None or os.path.basename(SHELL) != "dash":
        pytest.skip("tar, gzip and /bin/sh = dash are needed")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("hello\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    padded, same = tmp_path / "padded", tmp_path / "same"
    shutil.copyfile(SHELL, padded)
    with open(padded, "ab") as f:
        f.write(b"\0")
    shutil.copyfile(SHELL, same)
    st = os.stat(SHELL)
    os.utime(same, ns=(st.st_atime_ns, st.st_mtime_ns))  # the shell's mtime; the ctime is the copy's
    for p in (padded, same):
        p.chmod(0o755)
    runs = [("overlay", str(empty)), ("bind", str(padded)), ("bind", str(same))]
    act = "import subprocess\n" + _MOUNT_NS + "rcs = []\n"
    for i, (kind, src) in enumerate(runs):
        act += (
            f"rcs.append(subprocess.run([{tar!r}, '-czf', {str(tmp_path / f'{i}.tgz')!r}, '-C',"
            f" {str(tmp_path)!r}, 'src'], preexec_fn=lambda: ns({kind!r}, {src!r}),"
            " stderr=subprocess.DEVNULL).returncode)\n"
        )
    act += f"open({str(tmp_path / 'rcs')!r}, 'w').write(repr(rcs))\n"
    pid, w = run_agent(sensor, act, timeout=30.0)
    try:
        assert w.wait(lambda e: e["type"] == "exit" and e["pid"] == pid) is not None
        rcs = (tmp_path / "rcs").read_text() if (tmp_path / "rcs").exists() else "no rcs: the act failed"
        assert rcs == "[0, 0, 0]", rcs
        events = w.own(pid)
        tars = [e for e in events if e["type"] == "exec" and e["filename"] == tar]
        shells = [e for e in events if e["type"] == "exec" and e["filename"] == "/bin/sh"]
        assert len(tars) == 3 and len(shells) == 3, (tars, shells)
        # each shell is the child of its own tar: judge each tar's run alone
        st_dev = (os.major(st.st_dev) << 20) | os.minor(st.st_dev)
        assert all((s["dev"], s["ino"]) != (st_dev, st.st_ino) for s in shells), shells
        verdicts = []
        for t in tars:
            mine = {t["pid"]} | {e["pid"] for e in events if e.get("ppid") == t["pid"]}
            ch, ctx = l2(baseline_end_ns=0)
            run = [e for e in events if e.get("pid") in mine or e.get("ppid") in mine]
            verdicts.append((_l2_verdicts(ch, ctx, run), ch.status()["helper_shells"]))
        ch, ctx = l2()
        assert [ch.identities(s, ctx)[1] for s in shells] == ["elf-layout"] * 3, shells
        overlay, pad, copy = (v[0] for v in verdicts)
        assert overlay == [] and verdicts[0][1] == 1, verdicts
        assert pad == [("LLM_AGENT_HIJACK", "dash<-tar")], verdicts
        assert copy == [("LLM_AGENT_HIJACK", "dash<-tar")], verdicts
    finally:
        w.stop()
