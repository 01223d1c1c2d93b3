"""Operator containment: freeze or thaw an agent's whole process tree.

H7 never does this on its own; an operator does, and the act is signed into
the same chain as the detections.  Two mechanisms:

* cgroup v2 freezer, when the tree lives alone in a (non-root) cgroup: the
  kernel freezes every task atomically, including ones forked mid-way or
  reparented away from the tree.
* SIGSTOP otherwise, to every process of the tree found through /proc,
  repeated until a pass finds no new descendant (a stopped process cannot
  fork, so this converges).  Signals go through a pidfd opened *before*
  re-checking the start time, so a pid recycled meanwhile is never hit.
  Limitation: a descendant that double-forked away before the freeze (and
  so was reparented outside the tree) is not found.

An agent named by agent_id (``comm:pid:start_ticks``) is only acted on if
the pid still has that start time: a recycled pid is a different process.
"""

from __future__ import annotations

import os
import pwd
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from h7.batch import make_agent_id, parse_agent_id
from h7.errors import PermissionDenied, UsageError
from h7.sensor.procfs import PF_KTHREAD, PROC, ProcStat, cgroup_of, process_tree, read_stat

MAX_ROUNDS = 5000  # SIGSTOP passes; SETTLE_S bounds them in time too
SETTLE_S = 5.0  # how long to wait for stop/freeze to take effect
_PF_KTHREAD = PF_KTHREAD


@dataclass(frozen=True)
class Target:
    agent_id: str
    root_pid: int
    start_ticks: int
    comm: str


def resolve_target(spec: str) -> Target:
    """An agent_id or a bare pid -> a live process, refusing recycled pids and unsafe targets."""
    spec = spec.strip()
    if spec.isdigit():
        pid, want_start = int(spec), None
    else:
        try:
            _, pid, want_start = parse_agent_id(spec)
        except ValueError:
            raise UsageError(f"{spec!r} is neither a pid nor an agent id (comm:pid:start_ticks)") from None
    st = read_stat(pid)
    if st is None:
        raise UsageError(f"no process {pid}: the agent is not running")
    if want_start is not None and st.start_ticks != want_start:
        raise UsageError(
            f"pid {pid} now belongs to a different process (start time {st.start_ticks}, "
            f"agent id says {want_start}): refusing to act on a recycled pid"
        )
    if pid <= 2 or st.ppid == 2 or st.flags & _PF_KTHREAD:
        raise UsageError(f"refusing to contain pid {pid}: init or a kernel thread")
    agent_id = spec if want_start is not None else make_agent_id(st.comm, pid, st.start_ticks)
    return Target(agent_id=agent_id, root_pid=pid, start_ticks=st.start_ticks, comm=st.comm)


# ------------------------------------------------------------------ cgroups


def _unescape_mount(s: str) -> str:
    out, i = [], 0
    for _ in range(len(s) + 1):
        if i >= len(s):
            break
        if s[i] == "\\" and i + 3 < len(s) and s[i + 1 : i + 4].isdigit():
            out.append(chr(int(s[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def _cgroup2_mounts() -> list[tuple[str, Path]]:
    """(root within the hierarchy, mount point) for each cgroup2 mount we can see."""
    mounts = []
    try:
        text = (PROC / "self" / "mountinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep or not post.startswith("cgroup2 "):
            continue
        f = pre.split()
        if len(f) >= 5:
            mounts.append((_unescape_mount(f[3]), Path(_unescape_mount(f[4]))))
    return mounts


def _cgroup_dir(cg: str) -> Path | None:
    for root, mnt in _cgroup2_mounts():
        if root == "/" or cg == root or cg.startswith(root.rstrip("/") + "/"):
            rel = cg[len(root) :] if root != "/" else cg
            d = mnt / rel.lstrip("/")
            if (d / "cgroup.procs").exists():
                return d
    return None


def _cgroup_pids(d: Path) -> set[int] | None:
    """Every pid in cgroup ``d`` and its descendant cgroups; None if unreadable."""
    pids: set[int] = set()
    for n, (dirpath, _dirs, _files) in enumerate(os.walk(d)):
        if n >= 10_000:
            return None
        try:
            text = (Path(dirpath) / "cgroup.procs").read_text()
        except OSError:
            return None
        pids.update(int(x) for x in text.split())
    return pids


def exclusive_cgroup(tree: Iterable[int], root_pid: int) -> tuple[str, Path] | None:
    """The cgroup v2 holding exactly this tree and nothing else, if there is one.

    Freezing a cgroup shared with unrelated processes would stop them too,
    and the root cgroup cannot be frozen at all.
    """
    tree_set = set(tree)
    cg = cgroup_of(root_pid)
    if not cg or cg == "/":
        return None
    d = _cgroup_dir(cg)
    if d is None or not (d / "cgroup.freeze").exists():
        return None
    members = _cgroup_pids(d)
    if not members or os.getpid() in members or not members <= tree_set:
        return None
    prefix = cg.rstrip("/") + "/"
    for pid in tree_set:
        p = cgroup_of(pid)
        if p is not None and p != cg and not p.startswith(prefix):
            return None
    return cg, d


def _cgroup_frozen(d: Path) -> bool:
    try:
        for line in (d / "cgroup.events").read_text().splitlines():
            if line.startswith("frozen "):
                return line.split()[1] == "1"
    except OSError:
        pass
    return False


def _set_freeze(d: Path, frozen: bool) -> bool:
    """Write cgroup.freeze and wait (bounded) for the kernel to report the state."""
    try:
        (d / "cgroup.freeze").write_text("1" if frozen else "0")
    except OSError as e:
        raise PermissionDenied(f"cannot write {d / 'cgroup.freeze'}: {e.strerror}") from None
    deadline = time.monotonic() + SETTLE_S
    for _ in range(int(SETTLE_S / 0.005) + 1):
        if _cgroup_frozen(d) == frozen:
            return True
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)
    return False


# ------------------------------------------------------------------ signals


def _signal(st: ProcStat, sig: int) -> bool:
    """Signal exactly the process ``st`` describes; False if it is gone or was replaced."""
    pidfd_open = getattr(os, "pidfd_open", None)
    send = getattr(signal, "pidfd_send_signal", None)
    if pidfd_open is None or send is None:
        now = read_stat(st.pid)
        if now is None or now.start_ticks != st.start_ticks:
            return False
        try:
            os.kill(st.pid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:
            raise PermissionDenied(f"not allowed to signal pid {st.pid}") from None
        return True
    try:
        fd = pidfd_open(st.pid)
    except ProcessLookupError:
        return False
    except OSError:
        return False
    try:
        now = read_stat(st.pid)
        if now is None or now.start_ticks != st.start_ticks:
            return False
        try:
            send(fd, sig)
        except ProcessLookupError:
            return False
        except PermissionError:
            raise PermissionDenied(f"not allowed to signal pid {st.pid}") from None
        return True
    finally:
        os.close(fd)


def _stopped(pid: int) -> bool:
    st = read_stat(pid)
    return st is None or st.state in ("T", "t", "Z", "X")


def _sigstop_tree(target: Target) -> tuple[list[int], list[int]]:
    """SIGSTOP until a pass finds nothing new and everything is stopped; (stopped, not yet stopped)."""
    signalled: dict[int, int] = {}  # pid -> start_ticks of the process we stopped
    deadline = time.monotonic() + SETTLE_S
    for _ in range(MAX_ROUNDS):
        tree = process_tree(target.root_pid, target.start_ticks)
        new = [st for pid, st in tree.items() if signalled.get(pid) != st.start_ticks]
        for st in new:
            if _signal(st, signal.SIGSTOP):
                signalled[st.pid] = st.start_ticks
        if not new and all(_stopped(p) for p in signalled):
            break
        if time.monotonic() > deadline:
            break
        if not new:
            time.sleep(0.005)
    pending = sorted(p for p in signalled if not _stopped(p))
    alive = sorted(p for p in signalled if read_stat(p) is not None)
    return alive, pending


# -------------------------------------------------------------- operations


def _live_tree(target: Target) -> dict[int, ProcStat]:
    """The target's process tree now; gone, or holding h7 itself, is the operator's one-line error."""
    tree = process_tree(target.root_pid, target.start_ticks)
    if not tree:
        raise UsageError(f"agent {target.agent_id} is no longer running")
    if os.getpid() in tree:
        raise UsageError("refusing to contain a process tree that contains h7 itself")
    return tree


def freeze(target: Target) -> dict[str, Any]:
    """Freeze the target's tree; returns what was done, for the signed record."""
    tree = _live_tree(target)
    cg = exclusive_cgroup(tree, target.root_pid)
    if cg is not None:
        name, d = cg
        if _set_freeze(d, True):
            return {"method": "cgroup2-freeze", "cgroup": name, "pids": sorted(tree)}
        # The kernel did not confirm in time: stop the tree with signals as well.
        stopped, pending = _sigstop_tree(target)
        return {
            "method": "cgroup2-freeze+sigstop",
            "cgroup": name,
            "pids": stopped,
            "not_stopped": pending,
        }
    stopped, pending = _sigstop_tree(target)
    return {"method": "sigstop", "pids": stopped, "not_stopped": pending}


def thaw(target: Target) -> dict[str, Any]:
    """Undo either mechanism: thaw the exclusive cgroup if frozen, then SIGCONT the tree."""
    tree = _live_tree(target)
    info: dict[str, Any] = {"method": "sigcont"}
    cg = exclusive_cgroup(tree, target.root_pid)
    if cg is not None and _cgroup_frozen(cg[1]):
        _set_freeze(cg[1], False)
        info = {"method": "cgroup2-thaw+sigcont", "cgroup": cg[0]}
    tree = process_tree(target.root_pid, target.start_ticks)
    info["pids"] = sorted(st.pid for st in tree.values() if _signal(st, signal.SIGCONT))
    return info


def operator_identity() -> tuple[int, str]:
    """(uid, login name) of the person acting.

    The login name comes from the audit login uid (/proc/self/loginuid),
    which sudo and su do not change, so "root via sudo" is still recorded as
    the human who logged in; then SUDO_USER; then the uid's own name.
    """
    uid = os.getuid()
    login: str | None = None
    try:
        luid = int((PROC / "self" / "loginuid").read_text().strip())
        if luid != 0xFFFFFFFF:
            login = pwd.getpwuid(luid).pw_name
    except (OSError, ValueError, KeyError):
        pass
    if login is None:
        login = os.environ.get("SUDO_USER") or None
    if login is None:
        try:
            login = pwd.getpwuid(uid).pw_name
        except KeyError:
            login = str(uid)
    return uid, login
