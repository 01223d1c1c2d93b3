"""An exec already under way when H7 attaches is the agent's starting image, not its act.

Real BPF, a real exec held inside the kernel: the process calls execve(/bin/sh -c "exit 0",
X) where X points into a page registered with userfaultfd, so the kernel's copy of argv
(after the syscall's entry, before the new image) waits on that page.  The test attaches
while it waits (``/proc/PID/syscall`` says execve), then lets it go.  The exec record must
say ``began_unwatched`` and L2 must give no verdict; the same process attached before its
execve must still get ``dash<-agent`` (the rule L2 exists for), so the test fails if the
kernel marks every exec.

Named test_live_* so vmtest runs it in every guest kernel.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import TIMESCALE
from test_live_exec_identity import Watch, codes, l2

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 syscall numbers")

# The child: report, wait for "attached or not" (stdin), then exec with argv[3] on a
# userfaultfd page that a thread of its own fills only when the test says so (fd 3).
HELD_EXEC = r"""
import ctypes, os, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mmap.restype = ctypes.c_void_p
c = ctypes
libc.mmap.argtypes = [c.c_void_p, c.c_size_t, c.c_int, c.c_int, c.c_int, c.c_long]
ready, go = int(sys.argv[1]), int(sys.argv[2])
uffd = libc.syscall(323, os.O_CLOEXEC)  # userfaultfd(2)
if uffd < 0:
    os.write(ready, b"u"); sys.exit(3)
api = (ctypes.c_uint64 * 3)(0xAA, 0, 0)
page = libc.mmap(None, 4096, 3, 0x22, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS, untouched
reg = (ctypes.c_uint64 * 4)(page, 4096, 1, 0)  # UFFDIO_REGISTER_MODE_MISSING
if libc.ioctl(uffd, 0xC018AA3F, api) or libc.ioctl(uffd, 0xC020AA00, reg):
    os.write(ready, b"u"); sys.exit(3)

def release():
    os.read(go, 1)
    zero = (ctypes.c_uint64 * 4)(page, 4096, 0, 0)
    libc.ioctl(uffd, 0xC020AA04, zero)  # UFFDIO_ZEROPAGE: argv[3] reads as ""

threading.Thread(target=release, daemon=True).start()
os.write(ready, b"r")
sys.stdin.readline()
argv = (ctypes.c_char_p * 5)(b"/bin/sh", b"-c", b"exit 0", ctypes.cast(page, ctypes.c_char_p), None)
envp = (ctypes.c_char_p * 1)(None)
libc.execve(b"/bin/sh", argv, envp)
sys.exit(4)
"""


def _in_execve(pid: int) -> bool:
    """Blocked inside execve(2) (number 59 on x86_64): its entry is behind it."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            return f.read().split(" ", 1)[0] == "59"
    except OSError:
        return False


def _held(pid: int) -> bool:
    """Inside execve(2) and staying there (twice, 50 ms apart): not merely preempted in it."""
    if not _in_execve(pid):
        return False
    time.sleep(0.05)
    return _in_execve(pid)


def _held_exec(sensor: Any, attach_during_exec: bool) -> list[dict[str, Any]]:
    """Run the child, attaching before its execve or while it is held inside; its exec records."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    p = subprocess.Popen(
        [sys.executable, "-c", HELD_EXEC, str(ready_w), str(go_r)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        pass_fds=(ready_w, go_r),
    )
    os.close(ready_w)
    os.close(go_r)
    w: Watch | None = None
    try:
        with os.fdopen(ready_r, "rb") as ready:
            said = ready.read(1)
        if said == b"u":
            pytest.skip("userfaultfd not available to hold an exec")
        assert said == b"r", "the child did not start"
        if not attach_during_exec:
            sensor.add_agent(p.pid)
            w = Watch(sensor)
        assert p.stdin is not None
        p.stdin.write("exec\n")
        p.stdin.flush()
        if attach_during_exec:
            end = time.monotonic() + 10 * TIMESCALE
            while not _held(p.pid) and time.monotonic() < end:
                time.sleep(0.005)
            assert _held(p.pid), "the child is not held inside execve"
            sensor.add_agent(p.pid)
            w = Watch(sensor)
        os.write(go_w, b"g")
        assert p.wait(timeout=20 * TIMESCALE) == 0
        assert w is not None
        ev = w.wait(lambda e: e["type"] == "exec" and e["pid"] == p.pid)
        assert ev is not None, "the kernel did not report the exec"
        return [e for e in w.own(p.pid) if e["type"] == "exec"]
    finally:
        os.close(go_w)
        if p.poll() is None:
            p.kill()
            p.wait()
        if w is not None:
            w.stop()


def test_exec_under_way_at_attach_is_not_the_agents_act(sensor: Any) -> None:
    execs = _held_exec(sensor, attach_during_exec=True)
    assert [e["args"] for e in execs] == [["/bin/sh", "-c", "exit 0", ""]]
    assert execs[0].get("began_unwatched") is True, execs[0]
    ch, ctx = l2()
    assert codes(ch, ctx, execs) == {}
    assert ch.status()["began_unwatched"] == 1


def test_exec_begun_after_attach_is_judged(sensor: Any) -> None:
    """The control: the same child and exec, entered while watched.

    Whether its exec is held on the page does not matter here (in a 7.3.4 guest it was once
    seen inside execve and gone a moment later: not held); it made its execve in scope.
    """
    execs = _held_exec(sensor, attach_during_exec=False)
    assert [e["args"] for e in execs] == [["/bin/sh", "-c", "exit 0", ""]]
    assert "began_unwatched" not in execs[0]
    ch, ctx = l2()
    found = codes(ch, ctx, execs)
    assert list(found) == ["LLM_AGENT_HIJACK"], found
    key = found["LLM_AGENT_HIJACK"][0].key  # dash:elf-layout:/bin/sh<-agent where a 9p root hides the inode
    assert key.startswith("dash") and key.endswith("<-agent"), key
    assert ch.status()["began_unwatched"] == 0
