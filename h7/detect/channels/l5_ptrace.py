"""L5 process tampering: ptrace attach/seize, and the same access without ptrace.

There is nothing to learn: a debugger attaching to an AI agent is never part
of its normal behaviour, and a process that can read or write the agent's
memory can take its API keys and conversation and rewrite its code.  So the
channel alerts on the first event, during the baseline as well, from the
immediate path.

Codes (one per kind of act, so an operator can route them separately):

* ``PTRACE_ATTACH_DETECTED``: PTRACE_ATTACH / PTRACE_SEIZE on an agent task;
* ``PROCESS_MEMORY_ACCESS``: process_vm_readv/writev on it, an open of its
  /proc/<pid>/mem or /proc/<pid>/maps, or any other attach-level access
  check the kernel made for it (fentry mode); a read or write through a
  /proc/<pid>/mem fd opened before the sensor watched it (fentry/mem_rw; in
  tracepoint mode sys_enter, for the fds the attach-time /proc scan found),
  and that scan's finding itself: a process already holding its mem open;
* ``PROCESS_LIMITS_CHANGED``: prlimit(2) set one of its resource limits from
  another process (a lowered NOFILE makes its next tool call fail; gated by
  credentials only, so no access check sees it: sys_enter in both modes, the
  pid resolved through the caller's PID namespace).  A get is not reported
  (/proc/<pid>/limits shows the same to anyone).  Likewise any of its
  /proc/<pid> files opened for WRITING by a process outside its agent
  (red-team round 8: ``oom_score_adj`` = 1000 makes it the OOM killer's first
  victim, ``timerslack_ns`` delays every sleep and timeout of it): those
  writes are gated by credentials or a capability, never by the ptrace check,
  so the open's exit reports them by the returned file, in both modes.
* round 9: its scheduling policy, nice value, CPU affinity, I/O priority or memory placement set
  by pid from another process (``sched_setscheduler``/``setparam``/``setattr``/``setaffinity``,
  ``setpriority``, ``ioprio_set``, ``migrate_pages``: starvation and throttling, credentials only)
  is ``PROCESS_LIMITS_CHANGED``; the memory oracles ``get_robust_list``, ``move_pages``, ``kcmp``
  (READ-level ptrace checks) are ``PROCESS_MEMORY_ACCESS``.  sys_enter, both modes.
* round 10: a stop (SIGSTOP/TSTP/TTIN/TTOU), SIGKILL or forged-fault signal (SEGV, BUS, ILL, FPE,
  TRAP, ABRT, SYS, XCPU, XFSZ) sent to one of its tasks by another process, however the target
  was named (kill, tgkill, sigqueue, pidfd_send_signal, a /proc dirfd, a namespace pid), is
  ``PROCESS_LIMITS_CHANGED`` (``act: signal``; tp_btf/signal_generate, both modes).  What the
  kernel sends (faults, OOM kills, tty job control, SIGCHLD) is not reported; a signal from a
  process above the agent in its parent chain and outside it (its supervisor, shell, service
  manager, init) is the owner's control, only counted; the relation rule below applies inside.
* ``FD_THEFT_DETECTED``: pidfd_getfd took one of its file descriptors (its
  sockets: the conversation with the model, its API sessions), or its
  /proc/<pid>/fd/<n> was opened: the very file behind that descriptor, opened
  anew by someone else (its log reopened for appending and forged, its stdin
  pipe read, a deleted file recovered).  Only read-level permission is
  checked for that open, so fentry's attach-level access check never sees it;
  the open's path is read at sys_enter (and io_uring's submit) in both modes.
  Listing the directory, readlink (lsof, ``ls -l``) and fdinfo are no opens of it.

An open of its /proc/<pid>/environ (where API keys live) is ``PROCESS_MEMORY_ACCESS`` too,
unless it is part of a sweep: procps ``ps -ef``/``ps aux`` (and ``top``) open the environ of every
process in pid order, so the kernel counts, per caller, the other processes' environ files it
opened in the run just before (``sweep``); from ``ENVIRON_SWEEP`` on, the open is a listing, not a
targeted read, and is only counted.  A reader that sweeps on purpose first is not caught (a
documented blind spot), nor is ``ps`` inside a PID namespace where the agent is among the first
two pids reported as a sweep (it is an alert).

An open of its /proc/<pid>/maps is judged the same way, counted separately (only maps opens count
toward a maps sweep, only environ opens toward an environ one; /proc/<pid>/mem, ptrace, process_vm_*
and pidfd_getfd are never exempt and never counted): ``perf record -a`` and continuous profilers
open every process's maps to name its mappings, the agent's among them (seen live in the session-6
evaluation).  A reader that opens other processes' maps first, then the agent's, is not certified
either: it learns only the memory layout, and the act that would use it (a /proc/<pid>/mem open,
process_vm_writev, a ptrace attach) still is.

A per-process /proc file is also judged by the file an open RETURNED (the
open's exit: the procfs inode's task and the dentry's name), so a path that
does not spell /proc/<pid> -- chroot("/proc") then "/PID/mem", /dev/fd/../..,
a bind mount of /proc/<pid>, a container's procfs -- names the same target.
That view adds the exploit's recon files: /proc/<pid>/syscall, auxv, pagemap
and stack (``PROCESS_MEMORY_ACCESS``), as does process_madvise(2) through a
pidfd (read-level access check: fentry's attach-level hook never sees it).
So does perf_event_open(2) bound to one of its tasks by a process outside its
agent (round 8): a sampling event with PERF_SAMPLE_STACK_USER copies its user
stack at every sample, behind a read-level check only (sys_enter, both modes).

Inside the agent (red-team round 9: gdb -p on the test the agent started, a py-spy dump of its own
forked worker): an agent process acting on its own descendant, or on another branch that runs a
program, gains nothing it did not hold and is only counted; acting on an ancestor (the root holds
the keys), on a forked copy of an agent process, or from outside is certified (``Lineage``, from
the kernel's fork/exec records, so a replay decides the same).

PTRACE_TRACEME is not an attach by someone else (the process asks to be
traced by its parent) and is ignored.  The kernel reports acts whose TARGET
is a monitored task, resolved in the kernel (pids named inside a PID
namespace, pidfds, /proc directory fds), never a process acting on itself.

The other direction (issue 13, red-team round 10's g1r10_ptrace_inject_outsider
class): an agent's process that attaches to, reads or writes the memory of
(process_vm_*, /proc/<pid>/mem) or takes a descriptor from (pidfd_getfd) a
process OUTSIDE every agent -- another user's shell, a daemon -- is the agent
tampering: the injected code then connects and writes from that process, where
no channel watches.  The kernel files such a record under the caller's agent
with target_agent 0; it is certified under the same code as the inward act,
evidence ``tamper_direction: agent_is_tracer`` (inward acts: ``agent_is_target``),
relation ``target_outside``.  Nothing is exempt: a debugger the agent runs on a
process it did not start reaches beyond its own work (its own children are in
its tree, judged by the rules above).  Read-level acts on outsiders (``ps``,
``top``, a profiler's maps or environ sweep) are never reported by the kernel.
The evidence names the hook that saw the act (issue 13: fentry on the ptrace
access check, or sys_enter arguments in tracepoint mode).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from h7.alert import Alert
from h7.batch import Event
from h7.decode import OUTSIDE_TYPES
from h7.detect.channels.base import Channel, ChannelContext
from h7.registry import AlertCode, ChannelSpec, register

ATTACH_REQUESTS = {16: "ATTACH", 0x4206: "SEIZE"}
#: an environ open preceded by this many other processes' environ opens (same caller, no gap over
#: 1 s) belongs to a sweep such as `ps`; chosen from what ps does (every process, pid order: the
#: agent is rarely among the first two), not from any test's numbers
ENVIRON_SWEEP = 2
#: the same rule for maps opens (perf synthesizes every process's mappings, in its /proc listing's
#: order: the agent is rarely among the first two); the same number, not one fitted to perf
MAPS_SWEEP = ENVIRON_SWEEP
#: access op -> the sweep count from which an open is a host-wide listing, only counted
SWEEP_OPS = {"proc_environ_open": ENVIRON_SWEEP, "proc_maps_open": MAPS_SWEEP}
#: an agent's own memory file: /proc/self/mem, /proc/thread-self/mem, /proc/<pid>[/task/<tid>]/mem
_OWN_MEM = re.compile(r"^/proc/(self|thread-self|[0-9]+)(?:/task/[0-9]+)?/mem$")
#: access op (h7/decode.py ACCESS_OPS) -> code
ACCESS_CODES = {
    "process_vm_readv": "PROCESS_MEMORY_ACCESS",
    "process_vm_writev": "PROCESS_MEMORY_ACCESS",
    "proc_mem_open": "PROCESS_MEMORY_ACCESS",
    "proc_mem_rw": "PROCESS_MEMORY_ACCESS",
    # a process found holding its mem file open when the sensor started watching it (the attach-time
    # /proc scan): the attach-level check passed before anyone was looking
    "proc_mem_held": "PROCESS_MEMORY_ACCESS",
    "proc_maps_open": "PROCESS_MEMORY_ACCESS",
    "proc_environ_open": "PROCESS_MEMORY_ACCESS",
    "attach_check": "PROCESS_MEMORY_ACCESS",
    "pidfd_getfd": "FD_THEFT_DETECTED",
    "proc_fd_open": "FD_THEFT_DETECTED",
    # what an exploit reads before writing memory (round 7): registers, loader addresses,
    # resident pages, kernel stack; and memory advice applied to it from outside
    "proc_syscall_open": "PROCESS_MEMORY_ACCESS",
    "proc_auxv_open": "PROCESS_MEMORY_ACCESS",
    "proc_pagemap_open": "PROCESS_MEMORY_ACCESS",
    "proc_stack_open": "PROCESS_MEMORY_ACCESS",
    "process_madvise": "PROCESS_MEMORY_ACCESS",
    "prlimit": "PROCESS_LIMITS_CHANGED",
    # round 8: its stack and registers sampled by a perf event; its /proc knobs retuned
    "perf_event_open": "PROCESS_MEMORY_ACCESS",
    "proc_write_open": "PROCESS_LIMITS_CHANGED",
    # round 9: starvation and throttling by pid (credentials / CAP_SYS_NICE only) ...
    "sched_setscheduler": "PROCESS_LIMITS_CHANGED",
    "sched_setparam": "PROCESS_LIMITS_CHANGED",
    "sched_setattr": "PROCESS_LIMITS_CHANGED",
    "sched_setaffinity": "PROCESS_LIMITS_CHANGED",
    "setpriority": "PROCESS_LIMITS_CHANGED",
    "ioprio_set": "PROCESS_LIMITS_CHANGED",
    "migrate_pages": "PROCESS_LIMITS_CHANGED",
    "cgroup_move": "PROCESS_LIMITS_CHANGED",  # into a cgroup with a cpu.max cap, a freezer...
    # round 10: frozen (SIGSTOP/TSTP/TTIN/TTOU), killed (SIGKILL) or a fault forged (SEGV, ABRT...)
    # by another process: what it can neither catch nor refuse
    "signal": "PROCESS_LIMITS_CHANGED",
    # ... and memory oracles behind READ-level ptrace checks (what round 7's auxv/pagemap opens tell)
    "get_robust_list": "PROCESS_MEMORY_ACCESS",
    "move_pages": "PROCESS_MEMORY_ACCESS",
    "kcmp": "PROCESS_MEMORY_ACCESS",
}
#: sched policies named in evidence (SCHED_*)
SCHED_POLICIES = {0: "OTHER", 1: "FIFO", 2: "RR", 3: "BATCH", 5: "IDLE", 6: "DEADLINE"}
#: ioprio classes (IOPRIO_CLASS_*: the top 3 bits of the 16-bit ioprio)
IOPRIO_CLASSES = {0: "NONE", 1: "RT", 2: "BE", 3: "IDLE"}
#: kcmp types (KCMP_*)
KCMP_TYPES = {0: "FILE", 1: "VM", 2: "FILES", 3: "FS", 4: "SIGHAND", 5: "IO", 6: "SYSVSEM", 7: "EPOLL_TFD"}
#: signals the kernel reports (bpf/h7.bpf.c H7_SIG_TAMPER), named in evidence
SIGNALS = {
    4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV",
    19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 24: "SIGXCPU", 25: "SIGXFSZ", 31: "SIGSYS",
}  # fmt: skip
#: how a user-space sender named it (siginfo si_code <= 0)
SI_CODES = {0: "SI_USER (kill, pidfd_send_signal)", -1: "SI_QUEUE (sigqueue)", -6: "SI_TKILL (tgkill, tkill)"}
#: perf_event_attr.sample_type bits that copy the target's memory or registers into the caller's buffer
PERF_SAMPLE_REGS_USER, PERF_SAMPLE_STACK_USER = 0x1000, 0x2000
#: acts keyed as another for folding: the use of a mem fd (fentry/mem_rw, or sys_enter on an fd the
#: attach-time scan found) whose open was certified is the same tampering, not a second finding; an
#: fd opened before attach has no such certificate, so its first use is certified under the open's
#: key.  The scan's own finding (``proc_mem_held``: an fd on the agent's memory exists) keeps its
#: own key: one certificate per holder and target however many fds, and the first use after it is
#: a second finding (what was done with it, when), not a repeat of the first
FOLD_AS = {"proc_mem_rw": "proc_mem_open"}
#: RLIMIT_* numbers (asm-generic) named in prlimit evidence
RLIMITS = dict(
    enumerate(
        [
            "CPU",
            "FSIZE",
            "DATA",
            "STACK",
            "CORE",
            "RSS",
            "NPROC",
            "NOFILE",
            "MEMLOCK",
            "AS",
            "LOCKS",
            "SIGPENDING",
            "MSGQUEUE",
            "NICE",
            "RTPRIO",
            "RTTIME",
        ]
    )
)


#: how many processes the lineage remembers (the oldest are forgotten first; a forgotten link makes
#: the verdict the conservative one: certified)
MAX_LINEAGE = 16384


@dataclass
class Lineage:
    """An agent's process tree as the kernel's own records tell it: replayable, no /proc.

    Every record names its actor and the actor's parent (``pid``, ``ppid``); a fork names the
    child; an exec says the process now runs a new program.  From these alone L5 tells whether
    an accessor inside the agent acts on its own descendant, on an ancestor, or sideways -- the
    same verdict live and in a replay (a /proc walk at alert time would differ in a replay, and
    a process gone a millisecond after its act would not be found).
    """

    parent: dict[int, int]
    #: processes that exec'd since they were forked (their memory is a program, not a copy)
    execd: set[int]

    def __init__(self) -> None:
        self.parent = {}
        self.execd = set()

    def on_event(self, ev: Event) -> None:
        pid, t = int(ev.get("pid", 0)), ev.get("type")
        if t == "fork":
            child = int(ev.get("child", 0))
            if child > 0 and child != pid:  # a process, not a thread
                self._link(child, pid)
                self.execd.discard(child)  # a new process under a reused pid
            return
        ppid = int(ev.get("ppid", 0))
        if pid > 0 and ppid > 0 and t not in OUTSIDE_TYPES:
            self._link(pid, ppid)
        if t == "exec" and pid > 0:
            self.execd.add(pid)

    def _link(self, pid: int, ppid: int) -> None:
        if self.parent.get(pid) == ppid:
            return
        self.parent.pop(pid, None)
        self.parent[pid] = ppid
        if len(self.parent) > MAX_LINEAGE:
            old = next(iter(self.parent))
            del self.parent[old]
            self.execd.discard(old)

    def chain(self, pid: int, root: int) -> list[int] | None:
        """``pid``, its parent, ... up to ``root`` inclusive; None if the known links never reach it."""
        out = [pid]
        cur = pid
        for _ in range(256):  # bounded: a tree deeper than this is not trusted
            if cur == root:
                return out
            nxt = self.parent.get(cur)
            if nxt is None or nxt in out:
                return None
            out.append(nxt)
            cur = nxt
        return None

    def relation(self, accessor: int, target: int, root: int) -> str:
        """How ``accessor`` stands to ``target`` inside the agent rooted at ``root``.

        ``outside`` (the accessor is not known below the root), ``ancestor`` (the target is
        the accessor's parent, grandparent, ... or the root), ``descendant`` (the accessor's own
        child, grandchild, ...), ``sideways_program`` (another branch, and some process on the
        target's branch below the common ancestor exec'd: the target runs a program its branch
        started), ``sideways_copy`` (another branch that never exec'd: a forked copy of an agent
        process's memory) or ``unknown`` (the target's links do not reach the root).
        """
        mine = self.chain(accessor, root)
        if mine is None:
            return "outside"
        if target in mine:
            return "ancestor"
        theirs = self.chain(target, root)
        if theirs is None:
            return "unknown"
        if accessor in theirs:
            return "descendant"
        below = theirs[: next(i for i, p in enumerate(theirs) if p in mine)]
        return "sideways_program" if any(p in self.execd for p in below) else "sideways_copy"

    def runs_program(self, pid: int, root: int, upto: int | None = None) -> bool:
        """Whether ``pid``'s memory is a program the agent started rather than a copy of the agent.

        True when ``pid`` or one of its ancestors below ``upto`` (default: the agent's root,
        excluded) exec'd since it was forked.  Unknown links say False: the conservative verdict.
        """
        chain = self.chain(pid, root)
        if chain is None:
            return False
        stop = upto if upto is not None else root
        below = chain[: chain.index(stop)] if stop in chain else chain[:-1]
        return any(p in self.execd for p in below)


#: relations of an accessor INSIDE the agent to its target that are the agent's own work, only
#: counted (docs/detection.md, L5 "Inside the agent"): nothing is gained that the accessor (or
#: the agent process that started both) did not already hold
OWN_WORK = frozenset({"descendant", "sideways_program"})
#: codes whose act reads or takes over a process's memory (ptrace, /proc/PID/mem, process_vm_*):
#: on a PROGRAM the agent started, the agent's own work only when the accessor is itself a program
#: (gdb, strace, py-spy); the agent's own code (its root or a forked copy of it) doing this to its
#: tool is certified (red-team round 3's g2r3_ptrace_sibling, a regression of c046722 found by
#: session 12's whole-suite run: a forked copy of the agent attached to the agent's `sleep` tool)
PROGRAM_MEMORY_CODES = frozenset({"PTRACE_ATTACH_DETECTED", "PROCESS_MEMORY_ACCESS"})


@dataclass
class L5Settings:
    """``[detect.l5]``: nothing to set (there is no model and no threshold)."""


class PtraceChannel(Channel):
    name = "L5"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.count = 0
        self.environ_sweeps = 0
        self.maps_sweeps = 0
        self.own_reads = 0  # this sensor's own /proc/<pid>/maps reads (L2), not tampering
        self.supervisor_signals = 0  # signals from a process above the agent in its parent chain
        self.lineage = Lineage()
        #: acts of an agent process on its own work (OWN_WORK), by relation: counted, not certified
        self.own_tree: dict[str, int] = {}
        #: acts of the agent's processes on processes outside every agent (certified)
        self.outward = 0
        self.last: dict[str, Any] | None = None

    def _attacker(self, ev: Event, ctx: ChannelContext) -> dict[str, Any]:
        pid = int(ev.get("pid", 0))
        exe = ctx.proc.exe(pid)
        return {
            "pid": pid,
            "tid": int(ev.get("tid", 0)),
            "comm": ev.get("comm", ""),
            "exe": exe if exe is not None else "unknown",
            "uid": int(ev.get("uid", -1)),
            "ppid": int(ev.get("ppid", 0)),
        }

    def on_events(self, events: list[Event], ctx: ChannelContext) -> list[Alert]:
        out: list[Alert] = []
        for ev in events:
            self.lineage.on_event(ev)
            etype = ev.get("type")
            if etype == "ptrace":
                req = ev.get("request_nr")
                name = ATTACH_REQUESTS.get(int(req)) if isinstance(req, int) else None
                if name is None and ev.get("request") in ("ATTACH", "SEIZE"):
                    name = str(ev["request"])
                if name is None:
                    continue
                code = "PTRACE_ATTACH_DETECTED"
                what: dict[str, Any] = {"request": name}
            elif etype == "access":
                op = str(ev.get("op", ""))
                if (
                    op == "proc_maps_open"
                    and int(ev.get("pid", 0)) == os.getpid()
                    and ctx.proc.read_own_maps(int(ev.get("target_pid", 0)))
                ):
                    # this sensor reading the agent's maps itself (L2 confirms that an agent-written
                    # library is mapped executable: ProcReader.exec_mapping); only opens it made
                    # (live: a replay's ProcReader reads nothing, so it skips nothing)
                    self.own_reads += 1
                    continue
                sweep = int(ev.get("sweep", 0))
                if op in SWEEP_OPS and sweep >= SWEEP_OPS[op]:
                    # a ps-style (environ) or perf-style (maps) listing of every process
                    if op == "proc_environ_open":
                        self.environ_sweeps += 1
                    else:
                        self.maps_sweeps += 1
                    continue
                code = ACCESS_CODES.get(op, "PROCESS_MEMORY_ACCESS")
                what = {"act": op}
                if op in SWEEP_OPS:
                    what["sweep"] = sweep
                if op in ("pidfd_getfd", "proc_fd_open"):
                    what["target_fd"] = int(ev.get("arg_fd", -1))
                if op == "proc_fd_open":  # what for: read, write, append (h7_access.mode = the open's flags)
                    what["open_flags"] = oct(int(ev.get("mode", 0)))
                elif op.startswith("proc_") and str(ev.get("hook", "")).startswith("tracepoint/syscalls/"):
                    # judged by the file the open returned, not by the path (none was recognised)
                    what["open_flags"] = oct(int(ev.get("mode", 0)))
                    what["resolved_by"] = "procfs inode"
                    if op == "proc_write_open":
                        what["file"] = str(ev.get("file", ""))
                elif op == "perf_event_open":
                    st = int(ev.get("mode", 0))
                    what["sample_type"] = hex(st)
                    what["copies_user_stack"] = bool(st & PERF_SAMPLE_STACK_USER)
                    what["copies_user_regs"] = bool(st & PERF_SAMPLE_REGS_USER)
                    what["cpu"] = int(ev.get("arg_fd", -1))
                elif op == "process_madvise":
                    what["advice"] = int(ev.get("mode", 0))
                elif op == "proc_mem_rw":  # the use of a mem fd (h7_access.mode = write)
                    what["direction"] = "write" if int(ev.get("mode", 0)) else "read"
                    if ev.get("held"):  # sys_enter, tracepoint mode: an fd the attach-time scan found
                        what["fd"] = int(ev.get("arg_fd", -1))
                        what["opened"] = (
                            "before the sensor watched the target (found by the attach-time /proc scan)"
                        )
                elif op == "proc_mem_held":  # the attach-time scan: an fd on its mem already open
                    what["fd"] = int(ev.get("arg_fd", -1))
                    what["open_flags"] = oct(int(ev.get("mode", 0)))
                    what["opened"] = (
                        "before the sensor watched the target (found by the attach-time /proc scan)"
                    )
                elif op == "prlimit":
                    res = int(ev.get("arg_fd", -1))
                    what["resource"] = RLIMITS.get(res, str(res))
                elif op in ("sched_setscheduler", "sched_setattr"):
                    pol = int(ev.get("mode", 0)) & ~0x40000000  # SCHED_RESET_ON_FORK
                    what["policy"] = SCHED_POLICIES.get(pol, str(pol))
                elif op == "sched_setaffinity":
                    what["cpus_0_31"] = hex(int(ev.get("mode", 0)))
                elif op == "setpriority":
                    nice = int(ev.get("mode", 0))
                    what["nice"] = nice - (1 << 32) if nice >= 1 << 31 else nice
                elif op == "ioprio_set":
                    prio = int(ev.get("mode", 0))
                    what["ioprio_class"] = IOPRIO_CLASSES.get((prio >> 13) & 7, str((prio >> 13) & 7))
                elif op == "cgroup_move":
                    what["cgroup"] = str(ev.get("cgroup", ""))
                    what["whole_process"] = bool(int(ev.get("mode", 0)))
                elif op == "move_pages":
                    what["moves_pages"] = bool(int(ev.get("mode", 0)))
                    what["pages"] = int(ev.get("arg_fd", -1))
                elif op == "signal":
                    sig = int(ev.get("mode", 0))
                    code_nr = int(ev.get("arg_fd", 0))
                    what["signal"] = SIGNALS.get(sig, str(sig))
                    what["si_code"] = SI_CODES.get(code_nr, str(code_nr))
                    what["to_thread_group"] = bool(ev.get("group", False))
                    if int(ev.get("sender_ancestor_depth", 0)) > 0:
                        # a process above the target in its parent chain: outside the agent, its
                        # supervisor, shell, service manager or init (the owner's job control,
                        # stopping or restarting it); inside, an agent process on its own
                        # descendant (own work) -- not tampering; counted
                        self.supervisor_signals += 1
                        continue
                elif op == "kcmp":
                    kt = int(ev.get("mode", 0))
                    what["kcmp_type"] = KCMP_TYPES.get(kt, str(kt))
            elif etype == "open":
                path = self._own_mem_writable(ev, ctx)
                if path is None:
                    continue
                code = "PROCESS_MEMORY_ACCESS"
                what = {
                    "act": "own_mem_open_writable",
                    "path": path,
                    "open_flags": oct(int(ev.get("flags", 0))),
                }
                ev = {**ev, "target_pid": int(ev.get("pid", 0)), "target": int(ev.get("tid", 0))}
                ev.setdefault("hook", "tp_btf/sys_enter (open record)")
            else:
                continue
            outward = self._target_outside(ev)
            if outward:  # the agent's process on a process outside every agent: the agent's act
                relation = "target_outside"
                self.outward += 1
            else:
                relation = self._relation(ev, ctx)
                if relation in OWN_WORK and not self._agent_code_on_a_program(code, relation, ev, ctx):
                    self.own_tree[relation] = self.own_tree.get(relation, 0) + 1
                    continue
            attacker = self._attacker(ev, ctx)
            act = str(what.get("act", what.get("request")))
            target = self._target(ev, ctx) if outward else {
                "pid": int(ev.get("target_pid", 0)), "tid": int(ev.get("target", 0))
            }  # fmt: skip
            evidence: dict[str, Any] = {
                **what,
                # who tampers with whom: a process (anyone's) on the agent, or the agent on a
                # process outside every agent (the kernel's target_agent 0).  Not "direction":
                # that is a mem fd use's read/write (proc_mem_rw)
                "tamper_direction": "agent_is_tracer" if outward else "agent_is_target",
                "attacker": attacker,
                "target": target,
                "pid_as_named": int(ev.get("arg_pid", target["tid"])),
                "hook": ev.get("hook", "tp_btf/sys_enter"),
                # Whether the attacker is inside the agent's own tree (an agent process
                # tracing a sibling) or outside it; None when /proc can no longer say.
                # (For an inward act the event's agent is the *target's*, never the caller's;
                # an outward act's caller is the agent's process by the kernel's own scope.)
                "attacker_monitored": True
                if outward
                else ctx.proc.descends_from(attacker["pid"], ctx.info.root_pid)
                if ctx.info is not None
                else None,
                # the accessor's place relative to the target in the agent's tree, from the
                # kernel's fork/exec records (Lineage.relation); "outside" for an outsider,
                # "target_outside" for the agent's act on a process outside every agent
                "relation": relation,
            }
            self.count += 1
            self.last = evidence
            out.append(
                ctx.alert(
                    "L5",
                    code,
                    int(ev.get("ts_ns", 0)),
                    divergence=1.0,
                    threshold=1.0,
                    key=f"{attacker['pid']}->{target['pid']}:{FOLD_AS.get(act, act)}",
                    evidence=evidence,
                )
            )
        return out

    @staticmethod
    def _target_outside(ev: Event) -> bool:
        """Whether the kernel filed this ptrace/access record as an agent's act on an outsider.

        The kernel's scope decides (bpf tamper_scope): a target in no agent, a caller in one;
        the record then carries target_agent 0 under the caller's agent.  A record without the
        field (a hand-made or old journal's event) is an inward one, as before.
        """
        return ev.get("type") in ("ptrace", "access") and "target_agent" in ev and not ev["target_agent"]

    @staticmethod
    def _target(ev: Event, ctx: ChannelContext) -> dict[str, Any]:
        """The outsider as far as /proc still names it (live only): its process, name, exe, owner.

        The kernel gives only the tid it resolved (sys_enter has no task to read a tgid from);
        its pid, comm and uid are read while it lives -- who was injected into is the first
        thing an operator needs.  In a replay, or once it is gone, only the tid is known.
        """
        tid = int(ev.get("target", 0))
        out: dict[str, Any] = {"pid": int(ev.get("target_pid", tid)), "tid": tid}
        task = ctx.proc.task(tid)
        if task is not None:
            out.update(task)
            exe = ctx.proc.exe(int(task["pid"]))
            out["exe"] = exe if exe is not None else "unknown"
        return out

    def _agent_code_on_a_program(self, code: str, relation: str, ev: Event, ctx: ChannelContext) -> bool:
        """An own-tree act that is not the agent's own work: its code reading a program's memory.

        A debugger or profiler the agent runs is a program acting on another program it (or the
        agent) started: nothing is gained.  The agent's root or a forked copy of it -- the code a
        prompt injection runs -- attaching to or reading a tool program gains what that program
        holds (a tool server's credentials).  A target that is a forked copy of the agent's own
        memory stays its own work whoever reads it (round 9's own-worker stack dump).
        """
        if code not in PROGRAM_MEMORY_CODES or ctx.info is None:
            return False
        root = int(ctx.info.root_pid)
        accessor, target = int(ev.get("pid", 0)), int(ev.get("target_pid", 0))
        if accessor == target or self.lineage.runs_program(accessor, root):
            return False
        if relation == "sideways_program":
            return True
        return self.lineage.runs_program(target, root, upto=accessor)

    def _relation(self, ev: Event, ctx: ChannelContext) -> str:
        """The accessor's relation to the target (Lineage.relation); ``unknown`` without a root.

        An agent process opening its OWN memory writable (``own_mem_open_writable``) is judged by
        what that memory is: a process that exec'd since it was forked (not the agent's root)
        holds its new program's memory, not the agent's (gdb opens its own /proc/self/mem to
        probe it, red-team round 9), so it is ``sideways_program``; the root or a forked copy of
        an agent process stays certified (round 6's handed-out fd).
        """
        if ctx.info is None:
            return "unknown"
        root = int(ctx.info.root_pid)
        accessor = int(ev.get("pid", 0))
        target = int(ev.get("target_pid", 0))
        if accessor == target:
            if accessor != root and accessor in self.lineage.execd and self.lineage.chain(accessor, root):
                return "sideways_program"
            return "self"
        return self.lineage.relation(accessor, target, root)

    @staticmethod
    def _own_mem_writable(ev: Event, ctx: ChannelContext) -> str | None:
        """The path, if an agent process opens its OWN memory file (/proc/self/mem ...) for writing.

        Red-team round 6 (``g2r6_selfmem_fd_handed_out``): the agent opened /proc/self/mem read-write
        and passed the fd over a unix socket to a helper outside its tree, which rewrote the agent's
        heap through it.  The access check is made at the open, against the opener -- the agent
        itself, always allowed -- and never again: whoever holds the fd can write the process.
        Opening one's own memory for writing is what code patching does, not what an agent's work
        needs, so the open itself is the finding (an open of *another* process's mem is the kernel's
        ``proc_mem_open`` record already).  Read-only opens are not judged.  From the open records
        (every open of a monitored process, both modes); a relative path is joined to the opener's
        cwd or dirfd through /proc (live only).
        """
        if ev.get("op") not in ("open", "openat", "openat2") or not int(ev.get("flags", 0)) & 0o3:
            return None
        path = str(ev.get("path", ""))
        if not path.endswith("mem"):
            return None
        if not path.startswith("/"):
            if not ctx.proc.enabled:
                return None
            dfd, pid = int(ev.get("dfd", -100)), int(ev.get("pid", 0))
            try:
                base = os.readlink(f"{ctx.proc.root}/{pid}/{'cwd' if dfd == -100 else f'fd/{dfd}'}")
            except OSError:
                return None
            path = os.path.join(base, path)
        path = os.path.normpath(path).replace("//", "/")
        m = _OWN_MEM.match(path)
        if m is None:
            return None
        who = m.group(1)
        if who.isdigit() and int(who) != int(ev.get("pid", 0)):
            return None
        return path

    def status(self) -> dict[str, Any]:
        return {
            "state": "armed",
            "divergence": float(self.count > 0),
            "threshold": 1.0,
            "attaches": self.count,
            "environ_sweeps_ignored": self.environ_sweeps,
            "maps_sweeps_ignored": self.maps_sweeps,
            "own_maps_reads_ignored": self.own_reads,
            "supervisor_signals_ignored": self.supervisor_signals,
            "own_tree_ignored": dict(self.own_tree),
            "outward_acts": self.outward,
        }

    def to_state(self) -> dict[str, Any]:
        return {}

    def from_state(self, state: dict[str, Any]) -> None:
        self.baselined = True


SPEC = register(
    ChannelSpec(
        name="L5",
        summary="ptrace ATTACH/SEIZE, memory access and fd theft on agent processes by anyone on the host, "
        "and by an agent's process on a process outside every agent",
        codes=(
            AlertCode(
                "PTRACE_ATTACH_DETECTED",
                "high",
                "Process attached to the agent with ptrace, or the agent attached to a process outside it",
            ),
            AlertCode(
                "PROCESS_MEMORY_ACCESS",
                "high",
                "Process read or wrote the agent's memory without ptrace, or the agent another process's "
                "(process_vm_*, /proc/<pid>/mem)",
            ),
            AlertCode(
                "FD_THEFT_DETECTED",
                "high",
                "Process took a file descriptor from the agent (pidfd_getfd, /proc/<pid>/fd/<n>), or the "
                "agent from a process outside it (pidfd_getfd)",
            ),
            AlertCode(
                "PROCESS_LIMITS_CHANGED",
                "high",
                "Process set one of the agent's resource limits (prlimit), its scheduling, priority, CPUs or "
                "I/O priority, or wrote one of its /proc/<pid> settings (oom_score_adj, timerslack_ns, ...), "
                "or sent it a stop, kill or forged-fault signal",
            ),
        ),
        settings=L5Settings,
        factory=PtraceChannel,
    )
)
