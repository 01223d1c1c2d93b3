"""L2 rules for red-team round 6's gap classes (no BPF: records shaped as the kernel sends them).

* code identity: a shell re-linked by objcopy (no build-id, a section added) is still the shell,
  by the SHA-256 of its executable segments read from the file the kernel executed;
* kernel usermode-helper knobs (core_pattern, modprobe, binfmt_misc register...): writing one is
  a DAEMON_HANDOFF to the kernel;
* an agent-written ELF mapped for execution into an agent process (LD_PRELOAD, dlopen) is
  AGENT_WRITTEN_EXEC, confirmed by the process's real /proc/<pid>/maps.

Real files, real objcopy/gcc output, real processes; pids that cannot exist where a process must
be gone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import file_exec

from h7.config import EngineConfig
from h7.detect.channels import l2_exec
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l2_exec import ExecChannel, elf_exec_segments

GONE = 4_100_000  # above the default pid_max: /proc/<GONE> never exists
DASH = os.path.realpath(shutil.which("dash") or "/bin/sh")
O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_CLOEXEC = 0, 1, 0o100, 0o1000, 0o2000000


def channel(proc_root: str = "/proc", live: bool = True, **l2: Any) -> tuple[ExecChannel, ChannelContext]:
    cfg = EngineConfig(channel_settings={"L2": l2})
    ch = ExecChannel(cfg)
    ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(live, proc_root))
    return ch, ctx


def exec_ev(path: Path | str, pid: int = GONE, args: list[str] | None = None) -> dict[str, Any]:
    name = os.path.basename(path)
    # dev 0: no inode fast path, identity must come from the file's content
    return file_exec(str(path), args or [name, "-c", "id"], pid, pid - 1, ts_ns=1, dev=0, exe_name=name)


def open_ev(path: str, flags: int, pid: int = GONE, ts: int = 1_000, op: str = "openat") -> dict[str, Any]:
    return {
        "type": "open",
        "pid": pid,
        "ppid": 1,
        "ts_ns": ts,
        "path": path,
        "flags": flags,
        "dfd": -100,
        "op": op,
    }


def codes(alerts: list[Any]) -> list[str]:
    return [a.code for a in alerts]


# -- code identity -------------------------------------------------------------------------


def _objcopied(tmp_path: Path) -> Path:
    if shutil.which("objcopy") is None:
        pytest.skip("objcopy (binutils) not installed")
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(3000))
    out = tmp_path / "tools" / "fmt-check"
    out.parent.mkdir()
    subprocess.run(
        [
            "objcopy",
            "--remove-section=.note.gnu.build-id",
            "--remove-section=.gnu_debuglink",
            f"--add-section=.fmtdata={blob}",
            DASH,
            str(out),
        ],
        check=True,
        timeout=30,
    )
    out.chmod(0o755)
    return out


def test_an_objcopy_relinked_shell_is_known_by_its_code(tmp_path: Path) -> None:
    tool = _objcopied(tmp_path)
    assert tool.read_bytes() != Path(DASH).read_bytes() and tool.stat().st_size != os.stat(DASH).st_size
    ch, ctx = channel()
    alerts = ch.on_events([exec_ev(tool)], ctx)
    assert codes(alerts) == ["LLM_AGENT_HIJACK"], alerts
    ident = alerts[0].evidence["identified_by"]
    assert [i["by"] for i in ident] == ["code"] and ident[0]["name"] == "dash"
    assert alerts[0].evidence["content_identity"] == "code"


def test_one_changed_code_byte_is_another_program(tmp_path: Path) -> None:
    """The digest covers every byte of the executable segment: a patched copy is not claimed by it.

    It is still dash by its own words (marker identity, session 10: red-team round 8's recoded
    dash), which a changed code byte leaves alone; without markers it is nothing.
    """
    tool = _objcopied(tmp_path)
    data = bytearray(tool.read_bytes())
    segs = elf_exec_segments(bytes(data[:4096]))
    assert segs
    off, _, filesz = segs[0]
    data[off + filesz // 2] ^= 0xFF
    tool.write_bytes(bytes(data))
    ch, ctx = channel(live=False)  # markers built on first need (live: in the background)
    alerts = ch.on_events([exec_ev(tool)], ctx)
    assert [i["by"] for a in alerts for i in a.evidence["identified_by"]] == ["markers"], alerts
    assert ch.known.markers is not None
    ch.known.markers = {}  # an index without marker words: the code digest alone
    ch.known._marker_cache.clear()
    ch2, ctx2 = channel(live=False)
    ch2._known = ch.known
    assert ch2.on_events([exec_ev(tool, pid=GONE + 1)], ctx2) == []


def test_code_is_read_only_from_the_executed_inode(tmp_path: Path) -> None:
    """A path now holding another file (replaced after the exec) is not read as the executed one."""
    tool = _objcopied(tmp_path)
    ev = exec_ev(tool)
    ev["ino"] = ev["ino"] + 1
    ch, ctx = channel()
    assert ch.on_events([ev], ctx) == []


def test_an_unrelated_program_has_no_code_identity(tmp_path: Path) -> None:
    other = tmp_path / "true-copy"
    shutil.copy(os.path.realpath(shutil.which("true") or "/bin/true"), other)
    ch, ctx = channel()
    assert ch.on_events([exec_ev(other, args=["true-copy"])], ctx) == []


# -- kernel usermode-helper knobs ------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/modprobe",
        "/sys/kernel/uevent_helper",
        "/proc/sys/fs/binfmt_misc/register",
        "/sys/fs/cgroup/rdma/x/release_agent",
        "/proc/self/root/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/../kernel/core_pattern",
    ],
)
def test_writing_a_usermode_helper_knob_is_a_handoff_to_the_kernel(path: str) -> None:
    ch, ctx = channel(live=False)
    alerts = ch.on_events([open_ev(path, O_WRONLY | O_TRUNC)], ctx)
    assert codes(alerts) == ["DAEMON_HANDOFF"], alerts
    ev = alerts[0].evidence
    assert ev["matched_by"] == ["kernel-helper"] and ev["daemon_comm"] == "kernel usermode helper"
    assert alerts[0].key.startswith("kernel-helper:/")


def test_reading_a_knob_or_writing_another_sysctl_is_not() -> None:
    ch, ctx = channel(live=False)
    evs = [
        open_ev("/proc/sys/kernel/core_pattern", O_RDONLY | O_CLOEXEC),
        open_ev("/proc/sys/kernel/core_uses_pid", O_WRONLY),
        open_ev("/proc/sys/vm/drop_caches", O_WRONLY),
    ]
    assert ch.on_events(evs, ctx) == []
    ch2, ctx2 = channel(live=False, handoff_allow=["/proc/sys/kernel/core_pattern"])
    assert ch2.on_events([open_ev("/proc/sys/kernel/core_pattern", O_WRONLY)], ctx2) == []


def _fake_mountinfo(root: Path, pid: int, mount_at: str, fstype: str) -> None:
    (root / str(pid)).mkdir(parents=True)
    (root / str(pid) / "mountinfo").write_text(
        "22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw\n"
        # the kernel escapes a space in a mount point as \040
        f"90 22 0:55 / {mount_at.replace(' ', chr(92) + '040')} rw,relatime - {fstype} {fstype} rw\n"
    )


def test_register_of_a_private_binfmt_misc_mount_is_found_by_file_system(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    _fake_mountinfo(proc, 77, "/tmp/h7 x/bm", "binfmt_misc")
    _fake_mountinfo(proc, 78, "/tmp/h7 x/bm", "tmpfs")
    ch, ctx = channel(str(proc))
    alerts = ch.on_events([open_ev("/tmp/h7 x/bm/register", O_WRONLY, pid=77)], ctx)
    assert codes(alerts) == ["DAEMON_HANDOFF"] and alerts[0].evidence["knob"] == "binfmt_misc:register"
    # the same name on another file system is just a file called register
    assert ch.on_events([open_ev("/tmp/h7 x/bm/register", O_WRONLY, pid=78)], ctx) == []


# -- agent-written code mapped into an agent process -----------------------------------------


def _agent_lib(tmp_path: Path) -> Path:
    """A real shared object with code, as an agent would write it (bytes of a system library)."""
    import ctypes.util

    name = ctypes.util.find_library("m")
    src = None
    for d in (
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu",
        "/lib64",
        "/lib",
    ):
        if name and os.path.exists(os.path.join(d, name)):
            src = os.path.join(d, name)
            break
    if src is None:
        pytest.skip("no libm shared object found to copy")
    lib = tmp_path / ".cache" / "libfmt.so.1"
    lib.parent.mkdir()
    shutil.copy(src, lib)
    assert elf_exec_segments(lib.read_bytes()[:4096])
    return lib


def _after_baseline(ch: ExecChannel) -> None:
    ch.baseline_end_ns = 500


def _run(code: str, lib: Path) -> subprocess.Popen[bytes]:
    p = subprocess.Popen([sys.executable, "-c", code, str(lib)], stdout=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline() == b"ready\n"
    return p


def _preloaded(lib: Path) -> subprocess.Popen[bytes]:
    """A system program (sleep) with the agent's library preloaded, once its loader has mapped it."""
    sleep = shutil.which("sleep") or "/bin/sleep"
    p = subprocess.Popen([sleep, "30"], env={**os.environ, "LD_PRELOAD": str(lib)})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if str(lib) in Path(f"/proc/{p.pid}/maps").read_text():
            return p
        time.sleep(0.02)
    p.kill()
    p.wait(10)
    raise AssertionError("the loader never mapped the preloaded library")


def test_an_agent_written_library_mapped_into_a_live_process_is_agent_written_exec(tmp_path: Path) -> None:
    """`LD_PRELOAD=./libfmt.so.1 sleep`: a trusted program's exec, the agent's code running in it."""
    lib = _agent_lib(tmp_path)
    p = _preloaded(lib)
    try:
        for seen_exec in (False, True):  # a fork of the agent's, or an exec L2 saw (the rule reads /proc)
            ch, ctx = channel()
            _after_baseline(ch)
            evs = [open_ev(str(lib), O_WRONLY | O_CREAT | O_TRUNC, ts=1_000)]
            if seen_exec:
                evs.append(
                    exec_ev(
                        os.path.realpath(shutil.which("sleep") or "/bin/sleep"), pid=p.pid, args=["sleep"]
                    )
                )
            alerts = ch.on_events([*evs, open_ev(str(lib), O_CLOEXEC, pid=p.pid)], ctx)
            assert codes(alerts) == ["AGENT_WRITTEN_EXEC"], (seen_exec, alerts)
            ev = alerts[0].evidence
            assert ev["mapped_file"] == str(lib) and ev["confirmed_by"].startswith("executable mapping")
            assert alerts[0].key == f"mapped:{lib.parent}"
    finally:
        p.kill()
        p.wait(10)


def test_an_interpreter_loading_an_agent_written_extension_is_not_a_hidden_program(tmp_path: Path) -> None:
    """python importing the C extension pip just installed (dev act benign_pip_cext_import_dev).

    Before session 9 this was AGENT_WRITTEN_EXEC: the same real mapping as LD_PRELOAD into sleep,
    but an interpreter runs whatever code it is given; its own exec is what L2 judges.  Both when
    the python is the agent itself (its exec never seen: /proc/PID/exe decides) and when L2 saw
    its exec.
    """
    lib = _agent_lib(tmp_path)
    p = _run(
        "import ctypes, sys, time; ctypes.CDLL(sys.argv[1]); print('ready', flush=True); time.sleep(30)", lib
    )
    try:
        assert str(lib) in Path(f"/proc/{p.pid}/maps").read_text()  # really mapped for execution
        for seen_exec in (False, True):
            ch, ctx = channel()
            _after_baseline(ch)
            evs = [open_ev(str(lib), O_WRONLY | O_CREAT | O_TRUNC, ts=1_000)]
            if seen_exec:
                evs.append(exec_ev(os.path.realpath(sys.executable), pid=p.pid, args=["python3", "-c", "x"]))
            got = ch.on_events([*evs, open_ev(str(lib), O_CLOEXEC, pid=p.pid)], ctx)
            assert [a for a in got if a.code == "AGENT_WRITTEN_EXEC"] == [], (seen_exec, got)
            assert not ch._map_pending and ch.status()["agent_written_elf_opened_by_interpreter"] == 1
    finally:
        p.kill()
        p.wait(10)


def test_reading_an_agent_written_library_is_not_running_it(tmp_path: Path, monkeypatch: Any) -> None:
    """A program reads an ELF the agent wrote (as benign_r4_c_make_build's tools do): no mapping, no alert.

    The reader is a non-interpreter (``tail``, alive and holding the file open): an interpreter's
    opens are not candidates at all (the test above).
    """
    monkeypatch.setattr(l2_exec, "_MAP_CONFIRM_S", 0.3)
    lib = _agent_lib(tmp_path)
    tail = shutil.which("tail") or "/usr/bin/tail"
    p = subprocess.Popen([tail, "-f", "-c", "0", str(lib)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        os.path.realpath(f"/proc/{p.pid}/fd/{fd}") == str(lib) for fd in os.listdir(f"/proc/{p.pid}/fd")
    ):
        time.sleep(0.02)
    try:
        ch, ctx = channel()
        _after_baseline(ch)
        evs = [open_ev(str(lib), O_WRONLY | O_CREAT, ts=1_000), open_ev(str(lib), O_CLOEXEC, pid=p.pid)]
        assert ch.on_events(evs, ctx) == []
        assert p.pid in ch._map_pending  # held, re-checked on the next batches
        time.sleep(0.4)
        assert ch.on_events([], ctx) == [] and not ch._map_pending  # never mapped: dropped
    finally:
        p.kill()
        p.wait(10)


def test_an_exited_non_interpreter_opener_is_judged_by_the_loaders_open_flags(tmp_path: Path) -> None:
    lib = _agent_lib(tmp_path)
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    ch, ctx = channel()
    _after_baseline(ch)
    run_true = exec_ev(true, pid=GONE, args=["true"])
    written = open_ev(str(lib), O_WRONLY | O_CREAT | O_TRUNC, pid=GONE - 5, ts=1_000)
    alerts = ch.on_events([written, run_true, open_ev(str(lib), O_CLOEXEC, pid=GONE)], ctx)
    assert codes(alerts) == ["AGENT_WRITTEN_EXEC"], alerts
    assert alerts[0].evidence["opener_image"] == "true" and "O_CLOEXEC" in alerts[0].evidence["confirmed_by"]
    # ld.so's own opens before it (hwcaps tries, preload list, cache, libraries) keep the loader
    # phase; any other open ends it: a program that reads files after its start-up (Go and Rust
    # tools open with O_CLOEXEC too) is not taken for its loader
    tries = [
        open_ev(f"{tmp_path}/glibc-hwcaps/x86-64-v3/libfmt.so.1", O_CLOEXEC, pid=GONE),
        open_ev("/etc/ld.so.preload", O_CLOEXEC, pid=GONE),
        open_ev("/etc/ld.so.cache", O_CLOEXEC, pid=GONE),
        open_ev("/lib/x86_64-linux-gnu/libcurl.so.4", O_CLOEXEC, pid=GONE),
    ]
    ch4, ctx4 = channel()
    _after_baseline(ch4)
    assert codes(
        ch4.on_events([written, run_true, *tries, open_ev(str(lib), O_CLOEXEC, pid=GONE)], ctx4)
    ) == ["AGENT_WRITTEN_EXEC"]
    for first in ("/proc/self/maps", "/usr/lib/locale/locale-archive", str(tmp_path / "notes.txt")):
        ch5, ctx5 = channel()
        _after_baseline(ch5)
        evs = [written, run_true, open_ev(first, O_CLOEXEC, pid=GONE), open_ev(str(lib), O_CLOEXEC, pid=GONE)]
        assert ch5.on_events(evs, ctx5) == [], first
    # the same open without O_CLOEXEC (cp, sha256sum, ld reading a library to link) is a read
    ch2, ctx2 = channel()
    _after_baseline(ch2)
    assert ch2.on_events([written, run_true, open_ev(str(lib), O_RDONLY, pid=GONE)], ctx2) == []
    # an interpreter opener that is gone proves nothing (python reads files with those flags)
    ch3, ctx3 = channel()
    _after_baseline(ch3)
    py = exec_ev(os.path.realpath(sys.executable), pid=GONE, args=["python3", "x.py"])
    got = [a for a in ch3.on_events([written, py, open_ev(str(lib), O_CLOEXEC, pid=GONE)], ctx3)]
    assert [a for a in got if a.code == "AGENT_WRITTEN_EXEC"] == []


def test_files_written_during_the_baseline_or_not_elf_are_not_candidates(tmp_path: Path) -> None:
    lib = _agent_lib(tmp_path)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello\n")
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    ch, ctx = channel()
    _after_baseline(ch)
    evs = [
        open_ev(str(lib), O_WRONLY | O_CREAT, pid=GONE - 5, ts=100),  # during the baseline
        open_ev(str(txt), O_WRONLY | O_CREAT, pid=GONE - 5, ts=1_000),
        exec_ev(true, pid=GONE, args=["true"]),
        open_ev(str(lib), O_CLOEXEC, pid=GONE),
        open_ev(str(txt), O_CLOEXEC, pid=GONE),
    ]
    assert ch.on_events(evs, ctx) == []
    ch2, ctx2 = channel(live=False)  # replay: never judged
    _after_baseline(ch2)
    evs[0]["ts_ns"] = 1_000
    assert ch2.on_events(evs, ctx2) == []


def test_the_sensors_own_maps_read_is_not_tampering() -> None:
    """L2's maps check makes the sensor open the agent's /proc/<pid>/maps: L5 must not certify it.

    Found in the first live run of the rule (benign_r4_c_make_build: the agent read the ELF it
    built, L2 looked at its maps, L5 certified PROCESS_MEMORY_ACCESS by the sensor's own pid).
    """
    from h7.detect.channels.l5_ptrace import PtraceChannel

    def access(pid: int, target: int) -> dict[str, Any]:
        return {
            "type": "access",
            "op": "proc_maps_open",
            "pid": pid,
            "tid": pid,
            "ts_ns": 5,
            "target": target,
            "target_pid": target,
            "arg_pid": target,
            "sweep": 0,
        }

    def l5(live: bool) -> list[int]:
        cfg = EngineConfig()
        ch = PtraceChannel(cfg)
        proc = ProcReader(live)
        assert proc.exec_mapping(GONE, 1, 1) is None  # L2's check: the maps of a process now gone
        ctx = ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=proc)
        evs = [access(os.getpid(), GONE), access(os.getpid(), GONE - 7), access(GONE - 1, GONE)]
        return [a.evidence["target"]["pid"] for a in ch.on_events(evs, ctx)]

    # live: the sensor's own open of a pid L2 looked at is skipped; its open of another pid, and
    # anyone else's open of the same pid, are certified
    assert l5(True) == [GONE - 7, GONE]
    # replay: the reader reads nothing, so nothing is skipped
    assert l5(False) == [GONE, GONE - 7, GONE]


def test_a_relative_open_of_a_written_library_is_resolved_through_the_cwd(tmp_path: Path) -> None:
    """`LD_PRELOAD=.cache/libfmt.so.1` from the workspace: the read-open is joined to the opener's cwd."""
    lib = _agent_lib(tmp_path)
    proc = tmp_path / "proc"
    (proc / str(GONE)).mkdir(parents=True)
    os.symlink(str(tmp_path), proc / str(GONE) / "cwd")
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    ch, ctx = channel(str(proc))
    _after_baseline(ch)
    written = open_ev(str(lib), O_WRONLY | O_CREAT | O_TRUNC, pid=GONE - 5, ts=1_000)
    again = open_ev(str(lib), O_WRONLY | O_TRUNC, pid=GONE - 5, ts=2_000)  # rewritten: one entry
    other = open_ev(str(tmp_path / "notes.txt"), O_CLOEXEC, pid=GONE - 9)  # a name never written: skipped
    alerts = ch.on_events(
        [
            written,
            again,
            exec_ev(true, pid=GONE, args=["true"]),
            other,
            open_ev(".cache/libfmt.so.1", O_CLOEXEC),
        ],
        ctx,
    )
    assert codes(alerts) == ["AGENT_WRITTEN_EXEC"] and alerts[0].evidence["mapped_file"] == str(lib)
    assert ch._written_names == {"libfmt.so.1": 1} and list(ch._written_paths) == [str(lib)]


def test_an_agent_opening_its_own_memory_for_writing_is_memory_access(tmp_path: Path) -> None:
    """g2r6_selfmem_fd_handed_out: a writable /proc/self/mem fd lets whoever gets it write the agent."""
    from h7.detect.channels.l5_ptrace import PtraceChannel

    proc = tmp_path / "proc"
    (proc / str(GONE) / "fd").mkdir(parents=True)
    os.symlink(f"/proc/{GONE}", proc / str(GONE) / "fd" / "5")

    def l5(evs: list[dict[str, Any]], live: bool = True) -> list[Any]:
        cfg = EngineConfig()
        ctx = ChannelContext(agent=1, agent_id="a", info=None, config=cfg, proc=ProcReader(live, str(proc)))
        return PtraceChannel(cfg).on_events(evs, ctx)

    O_RDWR = 2
    got = l5([open_ev("/proc/self/mem", O_RDWR | O_CLOEXEC)])
    assert [a.code for a in got] == ["PROCESS_MEMORY_ACCESS"]
    ev = got[0].evidence
    assert (
        ev["act"] == "own_mem_open_writable"
        and ev["target"]["pid"] == GONE
        and ev["path"] == "/proc/self/mem"
    )
    for path in (
        "/proc/thread-self/mem",
        f"/proc/{GONE}/mem",
        f"/proc/{GONE}/task/{GONE}/mem",
        "/proc/self/../self/mem",
    ):
        assert [a.code for a in l5([open_ev(path, O_WRONLY)])] == ["PROCESS_MEMORY_ACCESS"], path
    rel = {**open_ev("mem", O_RDWR), "dfd": 5}  # openat(fd of /proc/<own pid>, "mem")
    assert [a.code for a in l5([rel])] == ["PROCESS_MEMORY_ACCESS"]
    assert l5([rel], live=False) == []  # replay: another time's fds are not read
    # reading its own memory, another process's mem (the kernel's proc_mem_open record), other files: nothing
    quiet = [
        open_ev("/proc/self/mem", O_RDONLY),
        open_ev("/proc/1/mem", O_RDWR),
        open_ev("/proc/self/maps", O_RDWR),
        open_ev("/tmp/mem", O_RDWR),
    ]
    assert l5(quiet) == []


def test_an_agent_written_fifo_read_back_is_left_alone(tmp_path: Path) -> None:
    """The agent's child opens a named pipe for writing, the agent opens it for reading: the
    written-then-read rule must not open the pipe itself (red-team ``l3r9_cycle_named_fifo``,
    session 19: the sensor's blocking open() took the child's answer; with no writer yet it
    would have hung the detection thread).  Bounded: the judgement runs in a thread."""
    fifo = tmp_path / "result.pipe"
    os.mkfifo(fifo, 0o600)
    ch, ctx = channel()
    _after_baseline(ch)
    done: list[list[Any]] = []
    evs = [open_ev(str(fifo), O_WRONLY, ts=1_000), open_ev(str(fifo), O_CLOEXEC, ts=2_000)]
    t = threading.Thread(target=lambda: done.append(ch.on_events(evs, ctx)), daemon=True)
    t.start()
    t.join(5)
    stuck = t.is_alive()
    if stuck:  # release the old blocking open() so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(5)
    assert not stuck, "L2 blocked opening an agent's FIFO"
    assert done == [[]]
