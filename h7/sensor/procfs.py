"""Reading /proc: the agent's identity and its existing process tree.

The kernel follows new children from the moment the fork program is attached;
/proc only has to supply what already existed (the agent's descendants and
every thread of each), once, at attach time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from h7.batch import AgentInfo, make_agent_id
from h7.errors import UsageError

PF_KTHREAD = 0x00200000
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int
    flags: int
    start_ticks: int


def read_stat(pid: int) -> ProcStat | None:
    """Parse /proc/<pid>/stat; None if the process is gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may contain spaces and parentheses: split at the LAST ')'.
    lpar = raw.index(b"(")
    rpar = raw.rindex(b")")
    comm = raw[lpar + 1 : rpar].decode("utf-8", "replace")
    rest = raw[rpar + 2 :].split()
    # rest[0] is field 3 (state); field N is rest[N - 3].
    return ProcStat(
        pid=pid,
        comm=comm,
        state=rest[0].decode(),
        ppid=int(rest[1]),
        flags=int(rest[6]),
        start_ticks=int(rest[19]),
    )


def is_kernel_thread(st: ProcStat) -> bool:
    return bool(st.flags & PF_KTHREAD)


def exe_of(pid: int) -> str:
    try:
        return os.readlink(PROC / str(pid) / "exe")
    except OSError:
        return ""


def cmdline_of(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "surrogateescape") for a in raw.rstrip(b"\0").split(b"\0") if raw]


def threads_of(pid: int) -> list[int]:
    try:
        return sorted(int(t) for t in os.listdir(PROC / str(pid) / "task") if t.isdigit())
    except OSError:
        return []


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir(PROC) if p.isdigit()]


def descendants(root: int) -> list[int]:
    """root and every live process below it (by ppid), root first."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        st = read_stat(pid)
        if st is not None:
            children.setdefault(st.ppid, []).append(pid)
    out = [root]
    i = 0
    while i < len(out) and i < 1_000_000:
        out.extend(children.get(out[i], ()))
        i += 1
    return out


def ticks_to_ns(ticks: int) -> int:
    hz = os.sysconf("SC_CLK_TCK")
    return ticks * (1_000_000_000 // hz)


def validate_agent_pid(pid: int) -> ProcStat:
    """The checks an operator needs one clear line for, before any BPF is loaded."""
    if pid <= 0:
        raise UsageError(f"pid {pid} is not a process id")
    st = read_stat(pid)
    if st is None:
        raise UsageError(f"no process with pid {pid}")
    if is_kernel_thread(st):
        raise UsageError(f"pid {pid} ({st.comm}) is a kernel thread; H7 watches user processes")
    if st.state in ("Z", "X"):
        raise UsageError(f"pid {pid} ({st.comm}) has already exited (zombie)")
    return st


def agent_info(agent: int, pid: int) -> AgentInfo:
    st = validate_agent_pid(pid)
    return AgentInfo(
        agent=agent,
        agent_id=make_agent_id(st.comm, pid, st.start_ticks),
        root_pid=pid,
        exe=exe_of(pid),
        cmdline=cmdline_of(pid),
        start_time_ns=ticks_to_ns(st.start_ticks),
    )
