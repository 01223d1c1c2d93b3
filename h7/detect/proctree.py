"""Per-process CPU attribution inside one agent's process tree (L1's "whose CPU was it").

The kernel counts an agent's CPU time for all its processes together (one
per-agent map value, ``struct h7_stats``): a busy ``pip install`` the agent's
tool runs and a miner thread inside the agent look the same to L1 there.  Two
things tell them apart without a kernel change:

* **who exec'd** -- the fork/exec/exit events every batch already carries.  A
  process that exec'd after the baseline (or descends from one that did) is a
  *tool run*: a new program whose start L2 judged at its exec.  Everything else --
  the agent's root, its threads, children it forked without exec -- is the
  agent's *own* code: where an in-process miner runs, since a miner that
  never execs never meets L2.
* **how much CPU each process used** -- ``/proc/<pid>/stat`` utime + stime of
  every live process of the tree, sampled once per batch right after the batch
  closes (:func:`sample_tree`, live only) and written into the batch
  (``Batch.procs``), so a journal replays the same attribution.

:class:`ProcessLedger` combines them into the agent's OWN CPU time per batch;
L1 judges that instead of the whole tree's when a tool ran.  The rule that
keeps it safe: own CPU is *measured*, never inferred as "the total minus the
tools'".  When any own process ran unmeasured in the interval (it exited before
a sample, e.g. a forked child that lives less than a batch), L1 falls back to
the whole tree's CPU for that batch -- exactly what it judged before this
module existed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from h7.batch import Event
from h7.decode import OUTSIDE_TYPES

#: how many processes one tree walk reads at most (a fork bomb must not make a batch slow)
MAX_TREE = 512
#: events whose ``pid`` may be another process than the agent's (the one tampering with it), or gone
_NOT_THE_ACTOR = frozenset({"exit", "access", "ptrace"})
#: records about a process outside the tree (a daemon's exec the agent caused): not the ledger's at all
_OUTSIDE = OUTSIDE_TYPES
#: /proc/<pid>/stat's utime and stime are in clock ticks
_TICK_NS = 1_000_000_000 // (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


def _stat_cpu_ns(root: str, pid: int) -> int | None:
    """utime + stime of process ``pid`` (all its threads, live and exited) in ns; None: gone."""
    try:
        with open(f"{root}/{pid}/stat", "rb") as f:
            raw = f.read(4096)
        rest = raw[raw.rindex(b")") + 2 :].split()
        # fields after "(comm)": state(3) ppid(4) ... utime(14) stime(15): rest[0] is field 3
        return (int(rest[11]) + int(rest[12])) * _TICK_NS
    except (OSError, ValueError, IndexError):
        return None


def _children(root: str, pid: int) -> list[int]:
    """Children of every thread of ``pid`` (/proc/<pid>/task/<tid>/children; [] if gone)."""
    out: list[int] = []
    try:
        tids = os.listdir(f"{root}/{pid}/task")
    except OSError:
        return out
    for tid in tids[:MAX_TREE]:
        try:
            with open(f"{root}/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            continue
    return out


def sample_tree(
    root_pid: int, extra: Iterable[int] = (), root: str = "/proc", limit: int = MAX_TREE
) -> dict[int, int]:
    """CPU ns so far of every live process in ``root_pid``'s tree, by pid (best effort, bounded).

    utime + stime of /proc/<pid>/stat include the process's exited threads, so
    a thread that mined and ended between two samples is still counted; the
    CPU of reaped children is not (cutime), so each process counts once.  The
    resolution is one clock tick (10 ms at USER_HZ 100): small next to what
    L1's CPU windows look for (0.05 CPU-s per second, sustained).  ``extra``:
    processes of the agent known from its events that may have left the tree
    (reparented to init), and their own trees.
    """
    out: dict[int, int] = {}
    todo = [*sorted(set(extra), reverse=True), root_pid]
    while todo and len(out) < limit:
        pid = todo.pop()
        if pid in out or pid <= 0:
            continue
        ns = _stat_cpu_ns(root, pid)
        if ns is None:
            continue
        out[pid] = ns
        todo.extend(_children(root, pid))
    return out


@dataclass
class BatchShare:
    """One batch's CPU split, CPU-seconds (not per second)."""

    #: the agent's own processes' CPU, measured (None: not measurable this batch)
    own_s: float | None
    #: tool processes (exec'd descendants) alive at some point of the batch
    tools_alive: int
    #: why own_s is None when a tool ran ("" otherwise)
    unmeasured: str = ""
    #: the exec'd processes' measured CPU in the batch (for the status/evidence)
    tool_s: float = 0.0
    #: the tool run this batch is charged to: the program the AGENT started (the first exec
    #: of its lineage: ``make`` for a build, not each ``cc1`` under it) whose processes used the
    #: most CPU by the sample, else the run started last ("" when no tool ran).  L1's fold key
    #: names it, so a verdict in another tool run is another cause (docs/detection.md, L1)
    tool_run: str = ""


@dataclass
class ToolTally:
    """What L1 set apart as tool runs' (its status ``tools``: the quieter signal for busy tools)."""

    #: batches whose judged CPU was the agent's own, less than the tree's
    batches: int = 0
    #: CPU-seconds of those batches set apart as the tool runs'
    cpu_s: float = 0.0
    #: batches whose scheduling shape was left unjudged (mostly tool CPU)
    jsd_skipped: int = 0
    #: batches with a tool alive whose own CPU could not be measured (judged whole, as before)
    unmeasured: int = 0
    #: the program of the last tool run that used CPU
    last_exe: str = ""


@dataclass
class ProcessLedger:
    """Which of an agent's processes are its own and which are tool runs; their CPU per batch.

    Fed with the agent's events (fork/exec/exit, in order) and, once per batch,
    the batch's ``procs`` sample.  Processes that existed before attach and
    never exec'd since are the agent's own (the conservative side: their CPU
    stays judged as the agent's).
    """

    root_pid: int
    #: execs count as tool runs only from the end of the baseline on (``arm``)
    armed: bool = False
    #: a program the agent's processes exec'd during the baseline is its *routine* work (a code
    #: executor's interpreter, its git): a later run of it is measured as the agent's own CPU,
    #: which the baseline learnt with those runs in it (see :meth:`arm`)
    routine_runs: bool = False
    #: programs exec'd by the agent's processes (not its root) before ``arm``
    baseline_programs: set[str] = field(default_factory=set)
    #: tool pids whose run is a routine program's (and what they fork): their CPU counts as own
    routine: set[int] = field(default_factory=set)
    #: pids that exec'd after the baseline, or descend from one that did
    tools: set[int] = field(default_factory=set)
    #: tool pids -> the program they exec'd (status only)
    tool_exe: dict[int, str] = field(default_factory=dict)
    #: the program the last tool run exec'd
    last_exe: str = ""
    #: tool pids -> the program the agent started for that tool run (its lineage's first exec)
    tool_run: dict[int, str] = field(default_factory=dict)
    #: the program of the tool run started last
    last_run: str = ""
    #: tool pids alive now
    alive_tools: set[int] = field(default_factory=set)
    #: own processes known from events (forked since attach, or seen acting) and not exited
    own_alive: set[int] = field(default_factory=set)
    _ended_tools: set[int] = field(default_factory=set)
    #: own processes that exited since the last sample: their last stretch of CPU is unmeasured
    _own_gone: list[int] = field(default_factory=list)
    #: the previous sample (pid -> CPU ns); None before the first
    _prev: dict[int, int] | None = None

    def on_event(self, ev: Event) -> None:
        t = ev.get("type")
        if t in _OUTSIDE:
            return
        pid = int(ev.get("pid", 0))
        if pid > 0 and pid not in self.tools and t not in _NOT_THE_ACTOR:
            self.own_alive.add(pid)
        if t == "fork":
            child = int(ev.get("child", 0))
            if child <= 0 or child == pid:
                return  # a thread: same process
            if pid in self.tools:
                self.tools.add(child)
                self.tool_exe[child] = self.tool_exe.get(pid, "")
                self.tool_run[child] = self.tool_run.get(pid, "")
                self.alive_tools.add(child)
                if pid in self.routine:
                    self.routine.add(child)
            else:
                self.own_alive.add(child)
        elif t == "exec":
            if pid == self.root_pid:
                return  # the agent itself re-exec'd: still the agent
            exe = str(ev.get("filename") or ev.get("exe_name") or "")
            if not self.armed:  # a process the baseline measured: the agent's; its program is routine
                if exe and len(self.baseline_programs) < MAX_TREE:
                    self.baseline_programs.add(exe)
                return
            if pid not in self.tools:  # an own process exec'd: a new tool run, named by its program
                self.tool_run[pid] = self.last_run = exe
                if self.routine_runs and exe in self.baseline_programs:
                    self.routine.add(pid)
            else:
                self.routine.discard(pid)  # a routine run that exec'd another program: a tool run
            self.tools.add(pid)
            self.tool_exe[pid] = self.last_exe = exe
            self.alive_tools.add(pid)
            self.own_alive.discard(pid)
        elif t == "exit" and pid == int(ev.get("tid", pid)):  # the process, not a thread
            if pid in self.tools:
                self.alive_tools.discard(pid)
                self._ended_tools.add(pid)
                self.routine.discard(pid)
            else:
                self.own_alive.discard(pid)
                self._own_gone.append(pid)

    def arm(self) -> None:
        """The baseline ended: execs from now on are tool runs.

        A process exec'd during the baseline (a persistent code-execution
        kernel, a language server) is part of what the baseline measured --
        its CPU is in the whole-tree baseline -- so it stays judged as the
        agent's own for as long as it lives: a miner injected into it later is
        L1's.  Only programs started after the baseline, whose exec L2 judged
        as new work, are set apart.

        With ``routine_runs``, not even those when the program is one the
        agent's processes exec'd during the baseline: an agent whose code tool
        runs each snippet in a child interpreter (AutoGen's local executor)
        has that interpreter's runs in its baseline, and L2 folds every later
        run into the key it certified then, so code run there -- a miner --
        would be nobody's if L1 set it apart as a tool's.  The CPU windows
        then judge such runs as the agent's own work; their scheduling shape
        stays the kernel's tool split.
        """
        self.armed = True

    def pids(self) -> set[int]:
        """Processes to sample besides the root's tree (a child that left it still counts)."""
        return self.own_alive | self.alive_tools

    def close_batch(self, procs: dict[int, int] | None) -> BatchShare:
        """This batch's split, from the sample taken as it closed; then start the next batch."""
        share = BatchShare(own_s=None, tools_alive=len(self.alive_tools | self._ended_tools))
        if share.tools_alive:
            share.tool_run = self.last_run
        prev = self._prev
        if procs is None:
            share.unmeasured = "no per-process sample (a journal without one, or /proc unread)"
        elif prev is None:
            share.unmeasured = "first sample"
        else:
            own_ns = tool_ns = 0
            by_run: dict[str, int] = {}
            for pid, ns in procs.items():
                d = max(0, ns - prev.get(pid, 0))
                if pid in self.tools and pid not in self.routine:
                    tool_ns += d
                    run = self.tool_run.get(pid, "")
                    by_run[run] = by_run.get(run, 0) + d
                else:
                    own_ns += d
            top = max(((ns, run) for run, ns in by_run.items() if run and ns > 0), default=None)
            if top is not None:
                share.tool_run = top[1]
            missing = sorted(p for p in self.own_alive if p not in procs)
            if self._own_gone:
                share.unmeasured = f"own process {self._own_gone[0]} exited between samples"
            elif missing:
                share.unmeasured = f"own process {missing[0]} not sampled"
            elif self.root_pid not in procs:
                share.unmeasured = "the agent's root was not sampled"
            else:
                share.own_s = own_ns / 1e9
            share.tool_s = tool_ns / 1e9
        self._prev = dict(procs) if procs is not None else None
        self._ended_tools.clear()
        self._own_gone.clear()
        # bounded memory: finished tool runs are forgotten once many have come and gone
        if len(self.tools) > 4 * MAX_TREE:
            self.tools = set(self.alive_tools)
            self.tool_exe = {p: self.tool_exe.get(p, "") for p in self.tools}
            self.tool_run = {p: self.tool_run.get(p, "") for p in self.tools}
            self.routine &= self.tools
        if len(self.own_alive) > 4 * MAX_TREE:
            self.own_alive = set(list(self.own_alive)[-MAX_TREE:])
        return share
