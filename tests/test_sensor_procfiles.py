"""Real BPF: an agent's /proc files and pid-taking syscalls judged by what the kernel resolved (issue 13).

Red-team round 7 reached an agent's memory through paths that never spell
/proc/<pid>/mem (chroot into /proc, ``/dev/fd/../..``, a bind mount of
/proc/<pid>, a container's procfs from inside it), read its exploit recon
files (syscall, auxv, pagemap) and tampered with it through syscalls the
tampering hooks did not list (process_madvise, prlimit by namespace pid).
In tracepoint mode (this host) every one of those went unseen: sys_enter's
lexical parse of the path was the only view.  The open's exit now judges
the FILE the open returned (its procfs inode's task, its dentry's name), and
sys_enter resolves process_madvise's pidfd and prlimit's pid in both modes.

Each act runs for real, in a separate process, against a live agent; the
kernel's record must name the agent.  In the vmtest guests (fentry mode) the
attach-level access check reports mem itself (and syscall at its read): the
expected hook follows the mode the sensor runs in.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import TIMESCALE
from test_sensor_gaps import (
    access_to,
    agent_buf,
    agent_in_own_namespaces,
    bystander,
    l5_certified,
    tamper_hook,
    wait_event,
    watched,
    watching,
)

EXIT_HOOKS = ("tracepoint/syscalls/sys_exit_openat", "tracepoint/syscalls/sys_exit_open")
SYS_PROCESS_MADVISE, MADV_COLD = 440, 20

libc = ctypes.CDLL(None, use_errno=True)
#: fixtures this module takes from test_sensor_gaps (a watched gap agent, the sensor's collector)
FIXTURES = (watched,)


def mem_hooks(sensor: Any) -> tuple[str, ...]:
    """Who reports a mem open the path did not name: the access check in fentry mode, else the exit."""
    if sensor.gap_modes["tampering"]["mode"] == "fentry":
        return (tamper_hook(sensor),)
    return EXIT_HOOKS


#: a child that opens argv[2] read-write after chroot(argv[1]) (when not "-"), and rewrites 8 bytes
#: at argv[3] in place: the round-7 act, with the agent's buffer left as it was
OPENER = r"""
import os, sys
root, path, addr = sys.argv[1], sys.argv[2], int(sys.argv[3])
if root != "-":
    os.chroot(root)
    os.chdir("/")
fd = os.open(path, os.O_RDWR)
try:
    assert os.pwrite(fd, os.pread(fd, 8, addr), addr) == 8
finally:
    os.close(fd)
print(os.getpid(), flush=True)
"""


def _open_as(argv_prefix: list[str], root: str, path: str, addr: int) -> int:
    r = subprocess.run(
        [*argv_prefix, sys.executable, "-c", OPENER, root, path, str(addr)],
        capture_output=True, text=True, timeout=30 * TIMESCALE,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split()[-1])


ACTS = ["chroot", "fd-symlink-dotdot", "bind-mount"]


@pytest.mark.parametrize("act", ACTS)
def test_mem_reached_by_a_path_that_does_not_name_it(watched: Any, tmp_path: Path, act: str) -> None:
    """chroot("/proc") + "/PID/mem", <link to /proc/self/fd>/../../PID/mem, a bind mount of /proc/PID.

    Round 7's g2r7_chroot_proc_mem and g2r7_devfd_dotdot_procmem, round 6's
    g2r6_procpid_bindmount_mem: missed in tracepoint mode before the open's exit was read.
    """
    sensor, agent, col = watched
    addr, _, pid = agent_buf(agent)
    if act == "chroot":
        caller = _open_as([], "/proc", f"/{pid}/mem", addr)
    elif act == "fd-symlink-dotdot":
        # what /dev/fd is on a distribution (a link to /proc/self/fd); made here, as some guests lack it
        (tmp_path / "fd").symlink_to("/proc/self/fd")
        caller = _open_as([], "-", f"{tmp_path}/fd/../../{pid}/mem", addr)
    else:
        view = tmp_path / "view"
        view.mkdir()
        # the opener runs inside the private mount namespace where /proc/PID is bound on `view`
        shell = f'mount --bind /proc/{pid} {view} && exec "$@"'
        caller = _open_as(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", shell, "sh"],
            "-",
            f"{view}/mem",
            addr,
        )
    e = wait_event(col, access_to(pid, "proc_mem_open", caller), f"{act}: the agent's mem")
    assert e["hook"] in mem_hooks(sensor), e
    assert e["mode"] & 0o3 == os.O_RDWR or e["hook"] == tamper_hook(sensor), e
    alerts = l5_certified(e)
    assert [a.code for a in alerts] == ["PROCESS_MEMORY_ACCESS"], alerts
    assert agent.cmd("read") == "h7-untouched"


RECON = r"""
import os, sys
pid = int(sys.argv[1])
with open(f"/proc/{pid}/syscall") as f:
    f.read()
with open(f"/proc/{pid}/auxv", "rb") as f:
    f.read()
fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
os.pread(fd, 8, 0)
os.close(fd)
for name in ("stat", "status", "cmdline", "statm", "limits"):  # what ps/top read: not recon
    with open(f"/proc/{pid}/{name}", "rb") as f:
        f.read()
print(os.getpid(), flush=True)
"""


def test_recon_files_of_the_agent(watched: Any) -> None:
    """/proc/PID/syscall, auxv and pagemap read by another process (g2r7_proc_syscall_auxv_recon).

    Each is certified; stat/status/cmdline/statm/limits (what ps and top read) are not reported.
    fentry mode: syscall's attach-level check at its read reports it (attach_check, nr = read).
    """
    sensor, agent, col = watched
    _, _, pid = agent_buf(agent)
    r = subprocess.run([sys.executable, "-c", RECON, str(pid)], capture_output=True, text=True,
                       timeout=30 * TIMESCALE)  # fmt: skip
    assert r.returncode == 0, r.stderr
    caller = int(r.stdout.split()[-1])
    fentry = sensor.gap_modes["tampering"]["mode"] == "fentry"
    ops = ["proc_auxv_open", "proc_pagemap_open"] + ([] if fentry else ["proc_syscall_open"])
    for op in ops:
        e = wait_event(col, access_to(pid, op, caller), op)
        assert e["hook"] in EXIT_HOOKS and e["arg_pid"] == pid, e
        alerts = l5_certified(e)
        assert [a.code for a in alerts] == ["PROCESS_MEMORY_ACCESS"], alerts
        assert alerts[0].evidence["act"] == op and alerts[0].evidence["resolved_by"] == "procfs inode"
    if fentry:
        e = wait_event(col, access_to(pid, "attach_check", caller), "syscall's access check")
        assert e["hook"] == tamper_hook(sensor), e
    time.sleep(0.3 * TIMESCALE)
    seen = {e["op"] for _, e in col.urgent_at if e["type"] == "access" and e["pid"] == caller}
    assert seen == set(ops) | ({"attach_check"} if fentry else set()), seen


SELF = f"""#!{sys.executable}
import os, resource
me = os.getpid()
for p in ("self", str(me)):
    for name in ("auxv", "pagemap", "syscall", "maps", "environ"):
        with open(f"/proc/{{p}}/{{name}}", "rb") as f:
            f.read(64)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
resource.prlimit(me, resource.RLIMIT_NOFILE, (soft, hard))
resource.prlimit(0, resource.RLIMIT_CORE, resource.getrlimit(resource.RLIMIT_CORE))
"""


def test_a_process_on_itself_and_unwatched_targets_are_not_reported(watched: Any, tmp_path: Path) -> None:
    """The agent's own child reading its own /proc files and setting its own limits: no record.

    The same files of an unwatched process, opened through the chroot path, and a prlimit set
    and a process_madvise on it: no record either (the target decides, never the caller).
    """
    _, agent, col = watched
    script = tmp_path / "self.py"
    script.write_text(SELF)
    script.chmod(0o755)
    assert agent.cmd(f"run {script}") == "rc 0"
    with bystander() as other:
        r = subprocess.run(
            [sys.executable, "-c", RECON, str(other.pid)],
            capture_output=True,
            text=True,
            timeout=30 * TIMESCALE,
        )
        assert r.returncode == 0, r.stderr
        code = (f"import os; os.chroot('/proc'); os.close(os.open('/{other.pid}/mem', os.O_RDONLY)); "
                f"os.close(os.open('/{other.pid}/auxv', os.O_RDONLY))")  # fmt: skip
        subprocess.run([sys.executable, "-c", code], check=True, timeout=30 * TIMESCALE)
        lim = resource.prlimit(other.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(other.pid, resource.RLIMIT_NOFILE, lim)
        pidfd = os.pidfd_open(other.pid)
        try:
            libc.syscall(ctypes.c_long(SYS_PROCESS_MADVISE), ctypes.c_long(pidfd), None, ctypes.c_long(0),
                         ctypes.c_long(MADV_COLD), ctypes.c_long(0))  # fmt: skip
        finally:
            os.close(pidfd)
        time.sleep(0.5 * TIMESCALE)
    col.stop()
    assert not [e for e in col.events if e["type"] == "access"], [
        e for e in col.events if e["type"] == "access"
    ]


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


def test_process_madvise_and_prlimit_set_on_the_agent(watched: Any) -> None:
    """process_madvise through a pidfd (g2r7_process_madvise_pageout) and a prlimit SET on the agent.

    Neither passes the attach-level access check: sys_enter reports them in both modes.  A
    prlimit that only reads the limit is not reported (/proc/PID/limits shows the same).
    """
    _, agent, col = watched
    addr, _, pid = agent_buf(agent)
    page = os.sysconf("SC_PAGE_SIZE")
    iov = _IoVec(addr // page * page, page)
    pidfd = os.pidfd_open(pid)
    try:
        rc = libc.syscall(ctypes.c_long(SYS_PROCESS_MADVISE), ctypes.c_long(pidfd), ctypes.byref(iov),
                          ctypes.c_long(1), ctypes.c_long(MADV_COLD), ctypes.c_long(0))  # fmt: skip
        assert rc == page, os.strerror(ctypes.get_errno())
    finally:
        os.close(pidfd)
    e = wait_event(col, access_to(pid, "process_madvise", os.getpid()), "process_madvise")
    assert e["hook"] == "tp_btf/sys_enter" and e["mode"] == MADV_COLD, e
    assert [a.code for a in l5_certified(e)] == ["PROCESS_MEMORY_ACCESS"]
    lim = resource.prlimit(pid, resource.RLIMIT_NOFILE)  # a get: not reported
    resource.prlimit(pid, resource.RLIMIT_NOFILE, lim)  # a set (to the same values)
    e = wait_event(col, access_to(pid, "prlimit", os.getpid()), "prlimit set")
    assert (
        e["hook"] == "tp_btf/sys_enter" and e["arg_fd"] == resource.RLIMIT_NOFILE and e["arg_pid"] == pid
    ), e
    alerts = l5_certified(e)
    assert [a.code for a in alerts] == ["PROCESS_LIMITS_CHANGED"] and alerts[0].evidence[
        "resource"
    ] == "NOFILE"
    time.sleep(0.3 * TIMESCALE)
    assert len([x for _, x in col.urgent_at if x["type"] == "access" and x["op"] == "prlimit"]) == 1


NS_ATTACKER = r"""
import os, resource, sys
lim = resource.prlimit(1, resource.RLIMIT_NOFILE)
resource.prlimit(1, resource.RLIMIT_NOFILE, lim)   # the agent, by its namespace pid
os.chroot("/proc")                                 # the container's procfs
os.chdir("/")
os.close(os.open("/1/mem", os.O_RDONLY))
print(os.getpid(), flush=True)
"""


def test_chroot_into_a_containers_proc_and_prlimit_by_namespace_pid(sensor: Any) -> None:
    """From inside the agent's PID and mount namespaces: chroot into its /proc, open /1/mem; prlimit(1).

    Round 7's g3r7_chroot_proc_ns and g3r7_prlimit_ns.  Host pid 1 is never taken for the target.
    """
    with agent_in_own_namespaces() as host_pid, watching(sensor, host_pid) as col:
        enter = ["nsenter", "--target", str(host_pid), "--mount", "--pid", "--"]
        r = subprocess.run(
            [*enter, sys.executable, "-c", NS_ATTACKER],
            capture_output=True,
            text=True,
            timeout=30 * TIMESCALE,
        )
        assert r.returncode == 0, r.stderr
        mem = wait_event(col, access_to(host_pid, "proc_mem_open"), "chroot into the container's /proc")
        assert mem["hook"] in mem_hooks(sensor), mem
        if mem["hook"] in EXIT_HOOKS:
            assert mem["arg_pid"] == 1, mem  # numbered as the container's procfs numbers it
        pl = wait_event(col, access_to(host_pid, "prlimit"), "prlimit by namespace pid")
        assert pl["arg_pid"] == 1 and pl["hook"] == "tp_btf/sys_enter", pl
    assert not [e for e in col.events if e["type"] == "access" and e["target_pid"] == 1]
