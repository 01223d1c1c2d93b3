"""What each of H7's hooks adds per hooked operation, and to whom (issue 13's cost acceptance).

H7 hooks the operations it reports (connect, the sends, exec, opens of
/proc/<pid>/mem|maps|environ, process_vm_*/pidfd_getfd/ptrace, scheduler
switches) and, in tracepoint mode, every syscall at ``sys_enter``.  The
question an operator asks is what that costs per operation, for a process
H7 watches and for one it does not, and whether an unwatched process's
ordinary syscalls got dearer.  This section answers it with one C loop
(bench/hook_loop.c) per kind of process, timing N operations of one kind
per request:

* ops: ``getppid`` and ``read`` (no hook looks at them: sys_enter's scope
  check only), ``pread`` (a positioned read of an ordinary file: the
  /proc/PID/mem offset check where the kernel has one), ``open`` (an
  ordinary file: sys_enter's /proc tail test), ``openmaps``
  (/proc/self/maps: the tail matches, the /proc path walk runs), ``udp``
  (sendto), ``sendmsg``, ``sendmmsg`` (8 datagrams per call), ``connect``,
  ``exec`` (posix_spawn of /bin/true + wait), ``pvm`` (process_vm_readv
  naming the OTHER loop: the unmonitored caller names the monitored loop,
  the case H7 reports; the monitored caller names the unmonitored one),
  ``pingpong`` (a pipe round trip between two threads on one CPU: two
  context switches and four syscalls), ``packet`` (sendto on an AF_PACKET
  socket to "lo"), ``uring`` (one io_uring NOP submitted and reaped),
  ``uringopen`` (an io_uring OPENAT of the ordinary file, then close(2)),
  and the operations session 7's hooks look at: ``listen`` (a loopback TCP
  listener opened and closed: tp_btf/inet_sock_set_state's listen and
  unlisten), ``creat`` and ``link`` (+ unlink) of a file next to the
  ordinary one (path-checked like open; records for a watched process),
  ``chdir`` (to the directory it is already in: L3's working-directory
  record), ``openfd`` (``/proc/self/fd/N``: the ``fd/<n>`` tail runs the
  /proc walk for every process) and ``unixdgram`` (a datagram to a
  path-bound AF_UNIX receiver of the same loop: the hand-off check); and
  those session 9's hooks look at: ``openat2`` (an ordinary file through
  openat2: its exit tracepoint), ``openpid`` (``/proc/PID/stat`` of the
  OTHER loop, as ps and top read every process's: the open exits' procfs
  inode and name test for a per-process file that is not judged),
  ``tcpsend`` and ``tcpreply`` (a send on a long-lived loopback TCP
  connection's client end, and on its accepted end: the ``accepted``
  lookup that keeps a reply out of egress; ``connect`` already pays the
  accept and the map's update and delete), ``rawhdr`` (an IPPROTO_RAW
  send whose own IPv4 header names 127.0.0.1: the IP_HDRINCL read),
  ``prlimit`` (a set of its own RLIMIT_NOFILE to its current value),
  ``pmadvise`` and ``getfd`` (process_madvise and pidfd_getfd through a
  pidfd of the OTHER loop, as ``pvm``: the unmonitored caller's rows are
  the reported attack path); and session 11's: ``recvfd`` (an fd passed
  over a unix socketpair with SCM_RIGHTS and received: sys_exit_recvmsg's
  control-message walk, a file record for a watched receiver), ``recv``
  (the same pair of calls without a control message), ``openw`` (a
  writable open of an ordinary file: the open exit's file record for a
  watched process) and ``shmat`` (shmat + shmdt of a SysV segment: the
  shm exits); and those session 10's hooks look at:
  ``perfopen`` (perf_event_open of a software counter on the OTHER loop:
  sys_enter's perf_event_open case, reported for the unmonitored caller),
  ``knob`` (``/proc/PID/oom_score_adj`` of the OTHER loop opened for
  writing: the open exits' writable-setting test, reported likewise),
  ``exec900`` (exec with 900 more descriptors open), and ``execmark`` /
  ``execmark900`` (exec / exec900 while a receiver mark is live: the
  monitored loop opened a FIFO for writing just before, in every set-up;
  the unmonitored loop's fork and exec then walk its fd table for a marked
  channel; ``hook_cpu_mark_added_ns_*`` and ``hook_bpf_mark_added_ns_*`` are
  what the live mark adds per exec over the same op with none); and session 11's
  ``setprio`` (getpriority + setpriority of the OTHER loop to its own nice
  value, as ``pvm``: the scheduling/oracle cases of sys_enter, red-team
  round 9); and session 12's ``mmap`` (a PROT_READ file mapping + munmap:
  no hook looks at it), ``mmapx`` (the same PROT_EXEC: sys_enter's mmap
  case or fentry/security_mmap_file, one written_files lookup) and
  ``mmapw`` (mmapx of a file the loop wrote just before: a record per
  mapping for the watched loop, issue 13 gap 4's executable mappings); and ``kill``
  (kill(SIGCONT) of the OTHER loop, as
  ``setprio``: tp_btf/signal_generate runs for every signal on the host);
  and session 27's ``openrw`` (a read-only open + close of a file the loop
  wrote just before: the open exit's written_files lookup hits, a
  ``read_written`` record per open for the watched loop -- L3's reads by
  inode; ``open`` is the same lookup's miss); and session 29's ``pipe``
  (write + read of one byte through a pipe: the relay gate, one array load
  each while no ``file`` mark is live), ``sendfile`` (one byte of an
  ordinary file into a file kept open for writing: copy_mark's source
  lookup misses) and ``sendfilew`` (the same from a file the loop wrote just
  before: for the watched loop the source is marked and the destination's
  mark is written per call -- a copy of an agent's drop); and session 30's
  ``opencopier`` (a read-only open + close of the OTHER loop's written file:
  for the unwatched loop one the watched loop wrote, so the open exit's
  written_bloom bit is set and it pays the lookup and the ``copiers`` record
  of a long-running copier, then the close's copier test);
* who: ``unmonitored`` (a loop H7 does not watch) and ``monitored`` (a loop
  it watches, after its baseline: its windows are learnt first and loaded
  into the kernel filter, so its known syscalls are counted, not shipped);
* set-ups, interleaved in every round (reversed order on odd rounds, so a
  drift of the machine hits every set-up alike): ``base`` (nothing of ours
  attached), ``floor`` (an empty tp_btf/sys_enter program, bench/null.bpf.c:
  what any syscall-level sensor pays here before doing anything),
  ``ref`` (H7's programs as they were before issue 13's hooks, commit
  BENCH_REF in the Makefile, all attached with empty maps: nothing watched,
  so the unmonitored rows only), ``syscall`` (H7 with H7_HOOK_MODE=syscall:
  sys_enter alone, no cgroup or fentry program), ``h7`` (H7 as it runs
  by default on this kernel: cgroup hooks here, fentry where it loads:
  the held-fd maps are empty, so sys_enter's read/write-family gate is one
  array load) and ``held`` (``h7`` with THIS process holding the monitored
  loop's /proc/<pid>/mem open from before the attach: the attach-time scan
  registers it, so the gate is open and every read/write-family call of
  every process also looks its tgid up in ``held_procs``; the loops hold
  nothing; only HELD_OPS, in tracepoint mode the only mode that registers).
  ``..._held_gate_ns_{op}_{who}`` = held - h7: what a non-empty holder map
  adds per call of a process that holds nothing.

Each request answers two figures: the loop's wall-clock ns per operation
and its CPU ns per operation (its threads, and the children it reaped: the
operation and every hook that ran in its context, whatever else the shared
cores ran meanwhile; the figure to read on a loaded machine).  Figures
(median over rounds of per-round values; ``_spread`` = (max - min) / median
of the per-round values), ``hook_`` for wall clock, ``hook_cpu_`` for CPU:
``hook[_cpu]_ns_base_{op}_{who}``, the added ns per operation
``hook[_cpu]_ns_added_{setup}_{op}_{who}`` and the ratio
``hook[_cpu]_ratio_{setup}_{op}_{who}`` (with / base, taken per round);
``..._h7_share_ns_{op}_{who}`` = h7 - floor (H7's own share above the
hook's floor), ``..._gap_hooks_ns_{op}_{who}`` = h7 - syscall (what the
issue-13 hooks add over sys_enter alone) and
``..._growth_ns_{op}_unmonitored`` = h7 - ref (what an unwatched process
pays now that it did not before issue 13; ``..._growth_ratio_...`` the
per-round h7 / ref).  ``hook_sensor_cpu_ns_per_op_{op}_{who}``: this
process's CPU per operation in the h7 set-up, i.e. the sensor's userspace
(its drain thread runs here, and is let settle after each request).

Every sensor set-up runs with the product's receiver window (L2's
``receiver_window_s``, 2 s), as ``h7 attach`` does.  ``H7_BENCH_HOOK_OPS=a,b``
times only those ops (a quick look; ``make bench`` times them all).

The kernel's own accounting (kernel.bpf_stats_enabled: run time and count
per program) is taken in a separate pass of the h7 set-up after each timed
pass, never during it (the statistics add two clock reads per program run):
``hook_bpf_ns_per_op_{op}_{who}`` is the time all of H7's programs spent
per operation (other processes' runs in that interval included: the host
is never idle), ``hook_bpf_{program}_{op}_{who}_ns_per_run`` one program's
mean per run where it ran at least once per operation.

Other BPF programs may be attached to the same tracepoints while this runs
(other sensors on a shared machine): ``hook_foreign_sys_enter_links`` counts
them.  With one attached, the tracepoint's slow path is already paid in
``base``, and the added figures are H7's marginal cost on such a host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import (
    BenchError,
    DrainingSensor,
    LineProcess,
    bpf_stats_enabled,
    built,
    median,
    null_object,
    spread,
)

#: op -> (count per request in a full run, in a quick run); a full request takes ~0.05-0.2 s here
OPS: dict[str, tuple[int, int]] = {
    "getppid": (200_000, 50_000),
    "read": (200_000, 50_000),
    "pread": (200_000, 50_000),
    "open": (50_000, 12_000),
    "openmaps": (10_000, 2_500),
    "udp": (50_000, 12_000),
    "sendmsg": (50_000, 12_000),
    "sendmmsg": (10_000, 2_500),
    "connect": (1_000, 250),
    "exec": (200, 50),
    "pvm": (10_000, 2_500),
    "pingpong": (20_000, 5_000),
    "packet": (20_000, 5_000),
    "uring": (50_000, 12_000),
    "uringopen": (20_000, 5_000),
    # session 7's hooks
    "listen": (5_000, 1_250),
    "creat": (5_000, 1_250),
    "link": (5_000, 1_250),
    "chdir": (20_000, 5_000),
    "openfd": (10_000, 2_500),
    "unixdgram": (20_000, 5_000),
    # session 9's hooks
    "openat2": (50_000, 12_000),
    "openpid": (20_000, 5_000),
    "tcpsend": (50_000, 12_000),
    "tcpreply": (50_000, 12_000),
    "rawhdr": (20_000, 5_000),
    "prlimit": (100_000, 25_000),
    "pmadvise": (10_000, 2_500),
    "getfd": (10_000, 2_500),
    # session 11's hooks (L3: a file received over SCM_RIGHTS, a writable open's file, SysV shm)
    "recvfd": (20_000, 5_000),
    "recv": (20_000, 5_000),
    "openw": (20_000, 5_000),
    "shmat": (20_000, 5_000),
    # session 10's: round 8's sys_enter case and open-exit test, the receivers' fork/exec walk
    "perfopen": (20_000, 5_000),
    "knob": (20_000, 5_000),
    "exec900": (200, 50),
    "execmark": (200, 50),
    "execmark900": (200, 50),
    # session 11's sys_enter cases (red-team round 9): scheduling by pid
    "setprio": (20_000, 5_000),
    # session 12's: executable file mappings (sys_enter mmap, fentry security_mmap_file)
    "mmap": (50_000, 12_000),
    "mmapx": (50_000, 12_000),
    "mmapw": (20_000, 5_000),
    # session 12's signal_generate hook (red-team round 10): a signal to the other loop
    "kill": (20_000, 5_000),
    # session 27's: a read-only open of a file the loop wrote (L3's reads by inode)
    "openrw": (20_000, 5_000),
    # session 29's: the relay gate on a pipe's write and read; sendfile's copy_mark, miss and hit
    "pipe": (100_000, 25_000),
    "sendfile": (50_000, 12_000),
    "sendfilew": (20_000, 5_000),
    "openarmed": (50_000, 12_000),  # before opencopier: its loop is no copier yet
    # session 31's: a writable open while a copier is live (copier_base's test), likewise before
    "openwarmed": (5_000, 1_250),
    "opencopier": (20_000, 5_000),
}
#: session 30's copier ops: before each request both loops write and close their ``openrw`` file
#: (the watched loop's is then marked); ``opencopier`` opens the other loop's, ``openarmed`` is
#: ``open`` while THIS process (long-running, outside the agent) is a live copier of the watched
#: loop's file: what a close of any other process pays while some copier is live, ``openwarmed``
#: likewise for ``openw`` (a writable open's copier_base test, session 31).  After the
#: request every mark ends, so no other op runs with a copier live.
COPIER_OPS = ("opencopier", "openarmed", "openwarmed")
#: ops timed while a receiver mark is live (the watched loop opened a FIFO for writing just before),
#: and the op each is compared with (the same work with no mark live)
MARKED_OPS = {"execmark": "exec", "execmark900": "exec900"}
#: the receiver window of every sensor set-up: the product's default (L2's receiver_window_s), so
#: the open exits' receiver tests run as under `h7 attach`; for a marked op, long enough to outlast it
RECEIVER_WINDOW_NS = 2_000_000_000
MARK_WINDOW_NS = 60_000_000_000
WHO = ("unmonitored", "monitored")
SETUPS = ("base", "floor", "ref", "syscall", "h7", "held")
HOOK_MODE = {"syscall": "syscall", "h7": "auto", "held": "auto"}
#: the ops timed in the ``held`` set-up: the read family sys_enter checks for holders of a pre-attach
#: /proc/<pid>/mem fd (read, pread), and getppid, which no hook looks at, as the control
HELD_OPS = ("getppid", "read", "pread")
#: the kernel-accounting pass runs each op this many times fewer (its wall clock is not used)
STATS_DIVISOR = 4


#: what each request measures: the loop's wall clock and CPU time per operation, and this
#: process's CPU time per operation meanwhile (the sensor's drain thread runs here)
METRICS = ("wall", "cpu", "sensor")


class Loop(LineProcess):
    """bench/hook_loop.c: n operations of one kind per request, answers wall and CPU ns per operation."""

    def __init__(self, open_path: Path) -> None:
        super().__init__([str(built("hook_loop")), str(open_path)], "hook_loop", ready="ready")
        #: the file the loop writes and closes for ``openrw`` (and that ``opencopier`` opens)
        self.xfile = Path(f"{open_path}.{self.pid}.x")

    def ns(self, op: str, n: int, pid: int = 0) -> tuple[float, float]:
        wall, cpu = self.ask_line(f"{op} {n} {pid}").split()
        return float(wall), float(cpu)


def _settle(quiet_ns: int = 1_000_000, step_s: float = 0.01, max_steps: int = 100) -> None:
    """Until this process (the sensor's drain thread) used under ``quiet_ns`` of CPU in one step.

    The sensor decodes a request's events after the loop has answered; without
    this its work would be counted in the next request, another op's.
    """
    for _ in range(max_steps):
        t = time.process_time_ns()
        time.sleep(step_s)
        if time.process_time_ns() - t < quiet_ns:
            return


#: makes a receiver mark live (True) or ends every mark (False); None where no sensor runs
Marker = Callable[[bool], None] | None


def _marked(loops: dict[str, Loop], op: str, mark: Marker, live: bool) -> None:
    """Around a MARKED_OPS request: the watched loop's FIFO act (every set-up: only the hooks differ).

    Before an unmarked twin (``exec``, ``exec900``) every mark ends: the ops
    before it make marks of their own (the watched loop's loopback ``connect``
    marks the accepted end for the receiver window, as an agent's does), and
    its row is the no-mark side of the comparison.
    """
    if op in MARKED_OPS.values() and live and mark is not None:
        mark(False)
    if op not in MARKED_OPS:
        return
    if live:
        if mark is not None:
            mark(True)
        loops["monitored"].ns("fifo", 1)
    elif mark is not None:
        mark(False)


def _copiers(loops: dict[str, Loop], op: str, mark: Marker, live: bool) -> None:
    """Around a COPIER_OPS request: the loops' written files before it, every mark ended after it."""
    if op not in COPIER_OPS:
        return
    if not live:
        if mark is not None:
            mark(False)
        return
    for w in WHO:
        loops[w].ns("openrw", 1)
    if op in ("openarmed", "openwarmed"):
        with open(loops["monitored"].xfile, "rb") as f:  # this process: a copier of the agent's file
            f.read()


def _timed(
    loops: dict[str, Loop],
    counts: dict[str, int],
    div: int = 1,
    who_: tuple[str, ...] = WHO,
    settle: bool = False,
    mark: Marker = None,
) -> dict[str, tuple[float, float, float]]:
    """One pass over every op, the loops alternating; ``{op}_{who}`` -> METRICS, ns per op."""
    out: dict[str, tuple[float, float, float]] = {}
    pids = {w: loops[w].pid for w in WHO}
    for op, n in counts.items():
        n = max(1, n // div)
        for who in who_:
            other = pids["monitored" if who == "unmonitored" else "unmonitored"]
            _copiers(loops, op, mark, True)
            _marked(loops, op, mark, True)
            mine = time.process_time_ns()
            wall, cpu = loops[who].ns(op, n, other)
            if settle:
                _settle()
            out[f"{op}_{who}"] = (wall, cpu, (time.process_time_ns() - mine) / n)
            _marked(loops, op, mark, False)
            _copiers(loops, op, mark, False)
    return out


def _object_stats(obj: Any) -> dict[str, tuple[int, int]]:
    """program name -> (run_time_ns, run_cnt) of a loaded BpfObject (what Sensor.program_stats gives)."""
    out = {}
    for p in obj.programs():
        info = p.fdinfo()
        out[p.name] = (info.get("run_time_ns", 0), info.get("run_cnt", 0))
    return out


def _stats_pass(
    stats: Callable[[], dict[str, tuple[int, int]]],
    loops: dict[str, Loop],
    counts: dict[str, int],
    into: dict[str, list[float]],
    who_: tuple[str, ...] = WHO,
    prefix: str = "hook_bpf",
    mark: Marker = None,
) -> None:
    """Per op and loop, the BPF time of the programs ``stats`` reads, per operation (kernel's accounting)."""
    pids = {w: loops[w].pid for w in WHO}
    with bpf_stats_enabled():
        for op, full in counts.items():
            n = max(1, full // STATS_DIVISOR)
            for who in who_:
                other = pids["monitored" if who == "unmonitored" else "unmonitored"]
                _marked(loops, op, mark, True)
                before = stats()
                loops[who].ns(op, n, other)
                after = stats()
                _marked(loops, op, mark, False)
                spent = 0
                for name, (t, c) in after.items():
                    dt, dc = t - before.get(name, (0, 0))[0], c - before.get(name, (0, 0))[1]
                    spent += dt
                    if dc >= n:  # ran at least once per operation: this op's hook
                        into.setdefault(f"{prefix}_{name}_{op}_{who}_ns_per_run", []).append(dt / dc)
                into.setdefault(f"{prefix}_ns_per_op_{op}_{who}", []).append(spent / n)


def _learn_windows(loops: dict[str, Loop], counts: dict[str, int]) -> np.ndarray:
    """The monitored loop's window codes, as a baseline of it would learn them (two passes, every op)."""
    from h7.sensor.sensor import Sensor

    with Sensor() as s:
        s.add_agent(loops["monitored"].pid)
        d = DrainingSensor(s, keep=True)
        try:
            for _ in range(2):
                _timed(loops, counts, div=20)
        finally:
            d.stop()
        got = [b.syscalls["window"] for b in d.batches]
        got.append(s.take_batch(0, 1).syscalls["window"])
    return np.unique(np.concatenate(got))


def foreign_links(own: set[int]) -> dict[str, int]:
    """tracepoint / cgroup hook -> how many BPF links not ours are attached to it (other sensors)."""
    out = subprocess.run(["bpftool", "link", "show", "-j"], capture_output=True, timeout=30, check=True)
    counts: dict[str, int] = {}
    for link in json.loads(out.stdout or b"[]"):
        if int(link.get("prog_id", -1)) in own:
            continue
        where = str(link.get("tp_name") or link.get("attach_type") or "")
        if where:
            counts[where] = counts.get(where, 0) + 1
    return counts


def _reference() -> Any:
    """The pre-issue-13 object (Makefile BENCH_REF), loaded; None where this clone could not build it."""
    from bench.harness import BUILD
    from h7.sensor.libbpf import BpfObject

    path = BUILD / "bench_ref.bpf.o"
    if not path.exists():
        print("[hook_cost] no build/bench_ref.bpf.o: running without the reference set-up", file=sys.stderr)
        return None
    obj = BpfObject(path.read_bytes())
    obj.load()
    return obj


class _Setups:
    """The set-ups of one run and what they collect besides the timed figures."""

    def __init__(self, loops: dict[str, Loop], counts: dict[str, int], codes: np.ndarray) -> None:
        self.loops, self.counts, self.codes = loops, counts, codes
        self.null = null_object()
        #: the floor is the empty sys_enter program alone (the object also holds syscall_cost's exit one)
        self.floor_progs = [self.null.program("bench_null_sys_enter")]
        self.ref = _reference()
        self.names = SETUPS if self.ref is not None else tuple(x for x in SETUPS if x != "ref")
        self.bpf: dict[str, list[float]] = {}
        self.foreign: list[int] = []
        self.shipped_frac: list[float] = []
        self.modes: dict[str, str] = {}
        #: held-fd files the sensor registered in each ``held`` pass (0: fentry mode, the gate stays shut)
        self.held_registered: list[int] = []

    def close(self) -> None:
        self.null.close()
        if self.ref is not None:
            self.ref.close()

    def timed(self, setup: str) -> dict[str, tuple[float, float, float]]:
        """One timed pass of every op under ``setup``."""
        if setup == "base":
            self.foreign.append(foreign_links(set()).get("sys_enter", 0))
            return _timed(self.loops, self.counts)
        if setup in ("floor", "ref"):
            obj = self.null if setup == "floor" else self.ref
            links = [p.attach() for p in (self.floor_progs if setup == "floor" else obj.programs())]
            try:
                if setup == "floor":
                    return _timed(self.loops, self.counts)
                got = _timed(self.loops, self.counts, who_=("unmonitored",))
                ref_stats = partial(_object_stats, obj)
                _stats_pass(ref_stats, self.loops, self.counts, self.bpf, ("unmonitored",), "hook_bpf_ref")
                return got
            finally:
                for link in links:
                    link.destroy()
        if setup == "held":
            # this process holds the monitored loop's memory open from before the attach
            fd = os.open(f"/proc/{self.loops['monitored'].pid}/mem", os.O_RDONLY)
            try:
                held = {op: self.counts[op] for op in HELD_OPS if op in self.counts}
                return self._sensor(setup, held) if held else {}
            finally:
                os.close(fd)
        return self._sensor(setup)

    def _sensor(
        self, setup: str, counts: dict[str, int] | None = None
    ) -> dict[str, tuple[float, float, float]]:
        from h7.sensor.sensor import Sensor, SensorConfig

        full = setup == "h7"  # the default set-up also gets the kernel-accounting pass
        with Sensor(SensorConfig(hook_mode=HOOK_MODE[setup])) as s:
            info = s.add_agent(self.loops["monitored"].pid)
            s.set_sequence_filter(info.agent, self.codes)
            s.set_receiver_window(RECEIVER_WINDOW_NS)
            if setup == "held":
                self.held_registered.append(s.held_files)

            def mark(live: bool) -> None:
                """A mark made now outlasts the request; after it, every mark ends (window 0 clears it)."""
                if live:
                    s.set_receiver_window(MARK_WINDOW_NS)
                else:
                    s.set_receiver_window(0)
                    s.set_receiver_window(RECEIVER_WINDOW_NS)

            d = DrainingSensor(s, keep=full)
            try:
                _settle()  # attach and seeding done: what follows is the loops' own
                got = _timed(self.loops, counts or self.counts, settle=True, mark=mark)
                if full:
                    _stats_pass(s.program_stats, self.loops, self.counts, self.bpf, mark=mark)
                elif setup == "held" and counts:  # sys_enter's own run time with the gate open
                    _stats_pass(
                        s.program_stats, self.loops, counts, self.bpf, prefix="hook_bpf_held", mark=mark
                    )
            finally:
                d.stop()
            if full:
                self.modes = {k: v["mode"] for k, v in s.gap_modes.items()}
                done = [*d.batches, s.take_batch(0, 1)]
                sent = sum(int(x.syscalls.size) for x in done)
                issued = sum(int(x.stats[info.agent]["syscalls"]) for x in done if info.agent in x.stats)
                if issued:
                    self.shipped_frac.append(sent / issued)
        return got


def run(quick: bool = False) -> dict[str, float]:
    if os.geteuid() != 0:
        raise BenchError("needs root")
    # 300 s since session 8 added six ops (+~25 % per round), 390 s since session 10 added eight
    # (+~30 %): still 6 rounds on a loaded host
    max_rounds, budget_s = (2, 60.0) if quick else (6, 390.0)
    counts = {op: c[1] if quick else c[0] for op, c in OPS.items()}
    counts = selected_ops(counts, os.environ.get("H7_BENCH_HOOK_OPS", ""))  # a subset: a quick look
    raw: dict[str, dict[str, dict[str, list[float]]]] = {m: {s: {} for s in SETUPS} for m in METRICS}
    with tempfile.TemporaryDirectory(prefix="h7-hook-cost-") as tmp:
        path = Path(tmp) / "work" / "notes.txt"  # an ordinary path of an ordinary length
        path.parent.mkdir()
        path.write_text("h7\n")
        loops = {w: Loop(path) for w in WHO}
        setups: _Setups | None = None
        try:
            setups = _Setups(loops, counts, _learn_windows(loops, counts))
            t0 = time.monotonic()
            r = 0
            while r < max_rounds and (r < 2 or time.monotonic() - t0 < budget_s):
                for setup in setups.names if r % 2 == 0 else setups.names[::-1]:
                    for k, got in setups.timed(setup).items():
                        for m, ns in zip(METRICS, got, strict=True):
                            raw[m][setup].setdefault(k, []).append(ns)
                cpu = raw["cpu"]
                print(
                    f"[hook_cost] round {r}: h7 - base, CPU ns: "
                    + ", ".join(f"{k} {cpu['h7'][k][-1] - cpu['base'][k][-1]:+.0f}" for k in cpu["base"]),
                    file=sys.stderr,
                )
                r += 1
        finally:
            if setups is not None:
                setups.close()
            for loop in loops.values():
                loop.close()
    return _figures(raw, setups, r)


def _compare(raw: dict[str, dict[str, list[float]]], pre: str) -> dict[str, float]:
    """The set-ups compared round by round, for one metric (``pre``: its figures' prefix)."""

    def diff(a: str, b: str, k: str) -> float:
        """Median over rounds of set-up a minus set-up b (both measured in each round)."""
        return median([x - y for x, y in zip(raw[a][k], raw[b][k], strict=True)])

    def ratio(a: str, b: str, k: str) -> list[float]:
        return [x / y for x, y in zip(raw[a][k], raw[b][k], strict=True)]

    res: dict[str, float] = {}
    for k, base in raw["base"].items():
        res[f"{pre}_ns_base_{k}"] = median(base)
        res[f"{pre}_ns_base_{k}_spread"] = spread(base)
        for setup in SETUPS[1:]:
            if k in raw.get(setup, {}):
                res[f"{pre}_ns_added_{setup}_{k}"] = diff(setup, "base", k)
                res[f"{pre}_ratio_{setup}_{k}"] = median(ratio(setup, "base", k))
                res[f"{pre}_ratio_{setup}_{k}_spread"] = spread(ratio(setup, "base", k))
        res[f"{pre}_h7_share_ns_{k}"] = diff("h7", "floor", k)
        res[f"{pre}_gap_hooks_ns_{k}"] = diff("h7", "syscall", k)
        if k in raw.get("held", {}):
            res[f"{pre}_held_gate_ns_{k}"] = diff("held", "h7", k)
        if k in raw["ref"]:
            res[f"{pre}_growth_ns_{k}"] = diff("h7", "ref", k)
            res[f"{pre}_growth_ratio_{k}"] = median(ratio("h7", "ref", k))
            res[f"{pre}_growth_ratio_{k}_spread"] = spread(ratio("h7", "ref", k))
    return res


def _mark_added(cpu: dict[str, dict[str, list[float]]], res: dict[str, float]) -> dict[str, float]:
    """What a live receiver mark adds per exec: each MARKED_OPS op against its unmarked twin.

    CPU: per round (h7 - base) of the marked op minus (h7 - base) of the
    unmarked one, median over rounds (both ops ran in the same round, so a
    slow round hits both); BPF: the kernel's per-op figures already in
    ``res`` (``hook_bpf_ns_per_op_*``), marked minus unmarked.
    """
    out: dict[str, float] = {}
    for op, plain in MARKED_OPS.items():
        for who in WHO:
            m, p = f"{op}_{who}", f"{plain}_{who}"
            if all(k in cpu[x] for k in (m, p) for x in ("h7", "base")):
                rows = zip(cpu["h7"][m], cpu["base"][m], cpu["h7"][p], cpu["base"][p], strict=True)
                added = [(hm - bm) - (hp - bp) for hm, bm, hp, bp in rows]
                out[f"hook_cpu_mark_added_ns_{op}_{who}"] = median(added)
            bm, bp = f"hook_bpf_ns_per_op_{m}", f"hook_bpf_ns_per_op_{p}"
            if bm in res and bp in res:
                out[f"hook_bpf_mark_added_ns_{op}_{who}"] = res[bm] - res[bp]
    return out


def selected_ops(counts: dict[str, int], only: str) -> dict[str, int]:
    """The ops H7_BENCH_HOOK_OPS names (comma-separated; empty: all), in OPS order."""
    names = [x for x in only.split(",") if x]
    if not names:
        return counts
    unknown = sorted(set(names) - set(counts))
    if unknown:
        raise BenchError(f"H7_BENCH_HOOK_OPS: unknown op(s) {', '.join(unknown)} (see hook_cost.OPS)")
    return {op: n for op, n in counts.items() if op in names}


def _figures(
    raw: dict[str, dict[str, dict[str, list[float]]]], setups: _Setups, rounds: int
) -> dict[str, float]:
    res: dict[str, float] = {"hook_rounds": float(rounds)}
    res.update(_compare(raw["wall"], "hook"))
    res.update(_compare(raw["cpu"], "hook_cpu"))
    for k, v in raw["sensor"]["h7"].items():
        res[f"hook_sensor_cpu_ns_per_op_{k}"] = median(v)
    for k, v in setups.bpf.items():
        res[k] = median(v)
    res.update(_mark_added(raw["cpu"], res))
    res["hook_foreign_sys_enter_links"] = float(max(setups.foreign, default=0))
    if setups.shipped_frac:
        res["hook_monitored_shipped_fraction"] = median(setups.shipped_frac)
    res["hook_reference"] = float(setups.ref is not None)
    res["hook_egress_mode_fentry"] = float(setups.modes.get("egress") == "fentry")
    res["hook_access_mode_fentry"] = float(setups.modes.get("tampering") == "fentry")
    res["hook_held_files_registered"] = float(min(setups.held_registered, default=0))
    return res


def summary(res: dict[str, float]) -> str:
    """The side-by-side table: per op and process, CPU ns and what each set-up adds (ratio, spread)."""
    if "hook_rounds" not in res:
        return ""
    nan = float("nan")
    foreign = res.get("hook_foreign_sys_enter_links", 0)
    lines = [
        f"hook cost per operation, {res['hook_rounds']:.0f} interleaved rounds, medians; the loop's CPU ns"
        f" per op: added (ratio to base, spread of the per-round ratios); foreign sys_enter: {foreign:.0f}",
        f"{'op':9} {'process':11} {'base':>8} {'+empty hook':>21} {'+H7 pre-issue-13':>21} {'+H7':>21}"
        f" {'H7-empty':>8} {'H7-pre13':>8} {'wall H7/base':>13} {'bpf/op':>7} {'pre13':>6} {'sensor':>7}",
    ]

    def cell(setup: str, k: str, pre: str = "hook_cpu") -> str:
        if f"{pre}_ratio_{setup}_{k}" not in res:
            return "-"
        added = f"{res[f'{pre}_ns_added_{setup}_{k}']:+.0f} " if pre == "hook_cpu" else ""
        return f"{added}({res[f'{pre}_ratio_{setup}_{k}']:.3f}, {res[f'{pre}_ratio_{setup}_{k}_spread']:.2f})"

    for op in OPS:
        for who in WHO:
            k = f"{op}_{who}"
            if f"hook_cpu_ns_base_{k}" not in res:
                continue
            lines.append(
                f"{op:9} {who:11} {res[f'hook_cpu_ns_base_{k}']:8.0f} {cell('floor', k):>21}"
                f" {cell('ref', k):>21} {cell('h7', k):>21} {res[f'hook_cpu_h7_share_ns_{k}']:+8.0f}"
                f" {res.get(f'hook_cpu_growth_ns_{k}', nan):+8.0f} {cell('h7', k, 'hook'):>13}"
                f" {res.get(f'hook_bpf_ns_per_op_{k}', nan):7.0f}"
                f" {res.get(f'hook_bpf_ref_ns_per_op_{k}', nan):6.0f}"
                f" {res.get(f'hook_sensor_cpu_ns_per_op_{k}', nan):7.0f}"
            )
    lines += _held_rows(res)
    lines += ["", "BPF ns per program run, unwatched caller: H7 now vs before issue 13 (kernel's accounting)"]
    lines.append(f"{'program':19} {'op':9} {'now':>8} {'pre-13':>8} {'growth':>8}")
    for key in sorted(res):
        if not (key.startswith("hook_bpf_ref_h7_") and key.endswith("_unmonitored_ns_per_run")):
            continue
        now = res.get(key.replace("hook_bpf_ref_", "hook_bpf_", 1))
        prog_op = key[len("hook_bpf_ref_") : -len("_unmonitored_ns_per_run")]
        prog, op = prog_op.rsplit("_", 1)
        if now is not None:
            lines.append(f"{prog:19} {op:9} {now:8.0f} {res[key]:8.0f} {now - res[key]:+8.0f}")
    lines += _marks(res)
    lines += _new_programs(res)
    return "\n".join(lines)


def _marks(res: dict[str, float]) -> list[str]:
    """What a live receiver mark adds per fork+exec of an unwatched process (its fd-table walk)."""
    out = []
    for op, plain in MARKED_OPS.items():
        k = f"{op}_unmonitored"
        if f"hook_cpu_mark_added_ns_{k}" not in res:
            continue
        out.append(
            f"  {op:12} vs {plain + ':':9} CPU {res[f'hook_cpu_mark_added_ns_{k}']:+9.0f} ns per exec,"
            f" BPF {res.get(f'hook_bpf_mark_added_ns_{k}', float('nan')):+9.0f} ns per exec"
        )
    if not out:
        return []
    return ["", "a live receiver mark, per fork+exec of an unwatched process (fd-table walk; medians):", *out]


def _held_rows(res: dict[str, float]) -> list[str]:
    """The read-family gate side by side: H7 with no held mem fd registered, and with one (tracepoint mode).

    A holder of an agent's /proc/<pid>/mem fd opened before the attach makes sys_enter look every
    read/write-family caller's tgid up in held_procs; with none registered the gate is one array
    load.  Rows: the loop's CPU ns per op added over base in each set-up, and the difference; then
    sys_enter's mean run time per call in each (the kernel's accounting: the gate's own cost, free of
    the CPU-time noise of a loaded host).
    """
    if not any(k.startswith("hook_cpu_held_gate_ns_") for k in res):
        return []
    nan = float("nan")
    reg = res.get("hook_held_files_registered", 0)
    out = [
        "",
        f"read-family gate (held mem fds registered in the held set-up: {reg:.0f}); loop CPU ns per op"
        " added over base",
        f"{'op':9} {'process':11} {'H7, no holder':>14} {'H7, a holder':>13} {'holder adds':>12}"
        f" {'sys_enter ns/run: no holder':>28} {'a holder':>9}",
    ]
    for op in HELD_OPS:
        for who in WHO:
            k = f"{op}_{who}"
            if f"hook_cpu_held_gate_ns_{k}" not in res:
                continue
            out.append(
                f"{op:9} {who:11} {res.get(f'hook_cpu_ns_added_h7_{k}', nan):+14.0f}"
                f" {res.get(f'hook_cpu_ns_added_held_{k}', nan):+13.0f}"
                f" {res[f'hook_cpu_held_gate_ns_{k}']:+12.0f}"
                f" {res.get(f'hook_bpf_h7_sys_enter_{k}_ns_per_run', nan):28.0f}"
                f" {res.get(f'hook_bpf_held_h7_sys_enter_{k}_ns_per_run', nan):9.0f}"
            )
    return out


def _new_programs(res: dict[str, float]) -> list[str]:
    """Programs the pre-issue-13 object did not have, per run, unwatched and watched caller.

    The growth table above can only list programs both objects have; the
    hooks added since (cgroup sock_addr, inet_sock_set_state, the fentry
    programs where they load) are the ones issue 13 asks about per
    operation, so they get their own rows: where an op made a program run at
    least once per operation, what one run cost for each kind of caller.
    """
    tail = {who: f"_{who}_ns_per_run" for who in WHO}
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for key, v in res.items():
        if not key.startswith("hook_bpf_h7_") or key.startswith("hook_bpf_ref_"):
            continue
        for who, t in tail.items():
            if not key.endswith(t):
                continue
            prog, op = key[len("hook_bpf_") : -len(t)].rsplit("_", 1)
            if any(k.startswith(f"hook_bpf_ref_{prog}_") for k in res):
                continue  # the pre-issue-13 object had it: the table above
            rows.setdefault((prog, op), {})[who] = v
    if not rows:
        return []
    nan = float("nan")
    out = ["", "BPF ns per program run of programs new since issue 13 (kernel's accounting)"]
    out.append(f"{'program':19} {'op':9} {'unwatched':>10} {'watched':>10}")
    for (prog, op), by in sorted(rows.items()):
        out.append(f"{prog:19} {op:9} {by.get('unmonitored', nan):10.0f} {by.get('monitored', nan):10.0f}")
    return out


def _main() -> None:
    res = run("--quick" in sys.argv)
    for k, v in sorted(res.items()):
        print(f"{k:56} {v:14.3f}")
    print(summary(res))


if __name__ == "__main__":
    _main()
