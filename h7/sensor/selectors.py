"""Which processes are agents: selectors for fleets where nobody types a pid.

A selector names agents by pid, by pid file, by executable path or by cgroup
(a systemd unit's or a container's).  ``resolve`` scans /proc once and
returns the *root* processes that match: a match whose ancestor also matches
(or is already watched) is left out, because the kernel already follows it as
part of that ancestor's tree.  The sensor calls ``resolve`` at attach time and
again every batch, so agents that start later are picked up too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from h7.errors import UsageError
from h7.safeio import read_regular
from h7.sensor import procfs

KINDS = ("pid", "pid_file", "exe", "cgroup")


def cgroup2_root() -> Path:
    """Where cgroup v2 is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts."""
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return Path(parts[1])
    except OSError:
        pass
    return Path("/sys/fs/cgroup")


CGROUP_ROOT = cgroup2_root()


@dataclass(frozen=True)
class Selector:
    kind: str
    value: str
    name: str = ""  # operator's label for the agents it matches (used in agent ids)

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"

    @property
    def watches_new(self) -> bool:
        """A plain pid names one process; every other kind can match processes not started yet."""
        return self.kind != "pid"


def parse(spec: Any) -> Selector:
    """From the CLI (``exe=/usr/bin/node``) or a config ``[[agent]]`` table (a selector + ``name``)."""
    name = ""
    if isinstance(spec, dict):
        spec = dict(spec)
        name = str(spec.pop("name", "")).strip()
        if len(spec) != 1:
            raise UsageError(f"agent selector {spec!r}: give exactly one of {', '.join(KINDS)}")
        ((kind, value),) = spec.items()
    elif isinstance(spec, str) and "=" in spec:
        kind, value = spec.split("=", 1)
    elif isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        kind, value = "pid", str(spec)
    else:
        raise UsageError(f"agent selector {spec!r}: expected pid, pid_file=, exe= or cgroup=")
    kind = str(kind).strip().replace("-", "_")
    value = str(value).strip()
    if kind not in KINDS:
        raise UsageError(f"agent selector {spec!r}: unknown kind {kind!r} (use {', '.join(KINDS)})")
    if not value:
        raise UsageError(f"agent selector {spec!r}: empty value")
    if kind == "pid" and not value.isdigit():
        raise UsageError(f"agent selector {spec!r}: a pid is a number")
    if kind in ("exe", "pid_file") and not value.startswith("/"):
        raise UsageError(f"agent selector {spec!r}: {kind} must be an absolute path")
    if kind == "cgroup":
        value = normalise_cgroup(value)
    return Selector(kind, value, name)


def label_for(pid: int, sels: Iterable[Selector]) -> str:
    """The name of the first named selector that matches ``pid`` ("" if none)."""
    for s in sels:
        if not s.name:
            continue
        if (
            (s.kind == "pid" and int(s.value) == pid)
            or (s.kind == "pid_file" and _read_pid_file(s.value) == pid)
            or (s.kind == "exe" and procfs.exe_of(pid) == os.path.realpath(s.value))
            or (s.kind == "cgroup" and _in_cgroup(procfs.cgroup_of(pid), s.value))
        ):
            return s.name
    return ""


def normalise_cgroup(value: str) -> str:
    """``/sys/fs/cgroup/system.slice/x.service`` and ``system.slice/x.service`` mean the same."""
    p = value
    for root in (str(CGROUP_ROOT), "/sys/fs/cgroup"):
        if p == root or p.startswith(root + "/"):
            p = p[len(root) :]
            break
    return "/" + p.strip("/")


def _in_cgroup(path: str | None, want: str) -> bool:
    if path is None:
        return False
    return want == "/" or path == want or path.startswith(want + "/")


def _read_pid_file(path: str) -> int | None:
    try:
        text = read_regular(path, 4096, "pid file", UsageError).decode("ascii", "replace").strip().split()
    except (OSError, UsageError):
        return None  # a FIFO or a huge file is never read (it would stall the sensor every batch)
    return int(text[0]) if text and text[0].isdigit() else None


def resolve(selectors: Iterable[Selector], watched: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """Root pids of live user processes matching any selector, not already watched."""
    sels = list(selectors)
    stats = {
        pid: st
        for pid, st in procfs.all_stats().items()
        if not procfs.is_kernel_thread(st) and st.state not in ("Z", "X")
    }
    matched: set[int] = set()
    exes = {os.path.realpath(s.value) for s in sels if s.kind == "exe"}
    cgroups = [s.value for s in sels if s.kind == "cgroup"]
    for s in sels:
        if s.kind == "pid":
            pid = int(s.value)
            if pid in stats:
                matched.add(pid)
        elif s.kind == "pid_file":
            pid_from_file = _read_pid_file(s.value)
            if pid_from_file is not None and pid_from_file in stats:
                matched.add(pid_from_file)
    if exes or cgroups:
        me = os.getpid()
        for pid in stats:
            if pid == me:
                continue
            if exes and procfs.exe_of(pid) in exes:
                matched.add(pid)
            elif cgroups:
                cg = procfs.cgroup_of(pid)
                if any(_in_cgroup(cg, want) for want in cgroups):
                    matched.add(pid)
    covered = matched | set(watched)
    roots = []
    for pid in sorted(matched):
        if pid in watched:
            continue
        # skip a match whose ancestor is a match or already watched: it is in that tree
        anc = stats[pid].ppid
        inside = False
        for _ in range(4096):
            if anc in covered:
                inside = True
                break
            st = stats.get(anc)
            if st is None or anc <= 1:
                break
            anc = st.ppid
        if not inside:
            roots.append(pid)
    return roots
