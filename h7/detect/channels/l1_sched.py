"""L1 scheduling drift: how the agent uses the CPU, as a distribution.

The kernel aggregates every sched_switch/wakeup/migration of the agent's
tasks into log2-ns histograms of on-CPU slices and off-CPU waits plus a few
counters; no ring record per event.  Per batch, those counts form one
categorical distribution over 69 scheduling-event kinds (32 on-CPU buckets,
32 off-CPU buckets, voluntary/involuntary switches, wakeups, new-task
wakeups, migrations).  The baseline distribution is the sum over baseline
batches.  Divergence: Jensen-Shannon (base 2, so in [0, 1] bits) between the
batch and the baseline; the Shannon entropy of both is reported.

A batch with few events is a poor estimate of anything: its JSD to any
reference is large by sampling noise alone.  So a batch below
``[detect.l1] min_events`` is not judged, and every batch is shrunk toward the
baseline with a fixed pseudo-count mass (a Dirichlet prior centred on the
baseline), which fades as the batch grows.  A miner's long involuntary
slices, a busy-loop, or an agent suddenly sleeping on I/O all move mass
between buckets and show up here, whatever the process names.

The shape is blind to how LONG the slices are in total: a GIL-bound miner
in a busy agent adds a few hundred 5-ms slices to thousands of short ones.
So the channel also weighs the on-CPU histogram by slice length -- the
agent's CPU-seconds per second (:func:`cpu_seconds`) -- and judges that
against the baseline over the long window only, as a judge of persistence
(h7.detect.window, ``clip_at_cap``): a miner burns every second, an agent
bursts for one.  Both per-batch judges want ``persist`` batches in a row.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from h7.alert import Alert
from h7.batch import Batch, Event
from h7.config import EngineConfig
from h7.decode import HIST_SLOTS
from h7.detect.channels.base import Calibration, Channel, ChannelContext, calibrate_threshold, entropy_bits
from h7.detect.numeric import jsd_bits
from h7.detect.proctree import BatchShare, ProcessLedger, ToolTally
from h7.detect.window import Cusum, calibrate_cusum
from h7.registry import AlertCode, ChannelSpec, register

COUNTERS = ("switches_voluntary", "switches_involuntary", "wakeups", "wakeups_new", "migrations")
CATEGORIES = (
    [f"oncpu_2^{i}ns" for i in range(HIST_SLOTS)]
    + [f"offcpu_2^{i}ns" for i in range(HIST_SLOTS)]
    + list(COUNTERS)
)
#: the run-queue split (bpf/h7.h, session 10): only what the AGENT decides -- how long it runs
#: between sleeps (its bursts, however often other tasks preempt it), how long it sleeps until
#: something wakes it, how often it sleeps, is woken and starts threads.  Left out: the waits for
#: a CPU (rqwait_hist), preemptions (switches_involuntary) and migrations, which the host's other
#: processes decide; see ``sched_vector`` and docs/detection.md "Host load is not agent drift".
SPLIT_COUNTERS = ("switches_voluntary", "wakeups", "wakeups_new")
SPLIT_CATEGORIES = (
    [f"burst_2^{i}ns" for i in range(HIST_SLOTS)]
    + [f"sleep_2^{i}ns" for i in range(HIST_SLOTS)]
    + list(SPLIT_COUNTERS)
)
#: a run-queue wait this long (2^20 ns, ~1 ms) or longer is the host's contention, for evidence
RQ_LONG_SLOT = 20
L1_FLOOR = 0.05  # bits of JSD
#: a slice in log2 slot i lasted [2^i, 2^(i+1)) ns: its length is estimated as the middle
SLOT_NS = 1.5 * 2.0 ** np.arange(HIST_SLOTS)
#: prior of the CPU-time judge, CPU-seconds per second (2 % of one core): an agent that
#: idles at 0.1 % is not "20x" busier when it spends 2 % of a core for a second
CPU_PRIOR = 0.02
#: the least per-batch "times the baseline" CPU time worth an alert on its own
CPU_FLOOR = 4.0
#: a shape verdict with tool runs alive is the agent's own when its own measured CPU lies this
#: far (CPU-s/s) above its usual level, if ``cpu_excess`` (the same rise) is off (``_charge``)
CPU_EXCESS_OWN = 0.05
#: the JSD window judges batches with at least this quantile of the baseline's event counts
WINDOW_MIN_QUANTILE = 0.5
#: the least baseline batches with ``min_events`` events for the JSD judges to judge at all
#: (h7.detect.window.calibrate_cusum's own minimum for the long window)
WINDOW_MIN_SAMPLES = 5
#: the sizes (events per batch) of the size-aware thresholds grow by this factor, from
#: ``min_events`` up to the baseline's median batch (see ``SchedChannel._calibrate_sizes``) ...
SIZE_STEP = 1.25
#: ... in at most this many steps (a busy agent's grid is coarser, never longer)
SIZE_GRID_MAX = 12
#: n-event subsamples drawn per baseline batch and size (about 2 x 30 samples per size)
SIZE_DRAWS = 2
#: the baseline's bursts "reach" the log2 bucket below which this share of them lie (``_doing_less``)
QUIET_BURST_QUANTILE = 0.99


@dataclass
class L1Settings:
    """``[detect.l1]``."""

    #: a batch with fewer scheduling events is not judged (its JSD is sampling noise)
    min_events: int = 40
    #: mass of the Dirichlet prior centred on the baseline that every batch is shrunk with
    pseudocount: float = 20.0
    #: the long window: a CUSUM of the per-batch JSD calibrated on the baseline (h7.detect.window)
    window: bool = True
    #: the CUSUM's h instead of the calibrated one (None: calibrated)
    window_h: float | None = None
    #: the least standard deviation the CUSUM reference is set with (bits)
    window_min_sigma: float = 0.0
    #: winsorise the JSD window's input at the per-batch threshold (h7.detect.window
    #: ``clip_at_cap``): one odd batch adds at most one threshold's excess
    window_clip: bool = True
    #: h is at least this many per-batch threshold excesses over the reference
    window_cap_batches: float = 3.0
    #: share of each log2 bucket's count spread to each neighbouring bucket (0: none; see
    #: ``smooth_hist``): slices 10-20 % longer on a loaded host are not a new behaviour
    smooth: float = 0.25
    #: the JSD window's reference at least this far from the baseline's median JSD towards the
    #: per-batch threshold (0: calibrated only).  Page's reference sits halfway between the
    #: in-control level and the smallest shift worth detecting; a very regular agent's baseline
    #: batches all agree, so its calibrated reference is tiny and the host's own changes (slices
    #: a little shorter or longer as its load comes and goes) add up -- see docs/detection.md
    window_ref_frac: float = 0.5
    #: judge the agent's on-CPU time per second against the baseline's too (see ``cpu_seconds``),
    #: over the long window only (needs ``window``)
    cpu: bool = True
    #: the least "times the baseline" a batch's CPU time counts fully in that window
    cpu_floor: float = CPU_FLOOR
    #: a batch's CPU score is the least CPU time of it and the batches before it, this many in
    #: all: a miner burns every second, a benign agent's bursts come and go
    cpu_sustain: int = 2
    #: the CPU-excess window (see ``_calibrate_cpu_excess``): the smallest sustained rise of the
    #: agent's CPU time it is built to catch, CPU-seconds per second (0.1: a thread mining 10 %
    #: of the time); 0 turns it off
    cpu_excess: float = 0.05
    #: its h is at least this many batches of that rise over its reference (Page: half the rise),
    #: so a rise of exactly ``cpu_excess`` alerts after about this many batches
    cpu_excess_batches: float = 30.0
    #: a batch's rise counts at most this many times ``cpu_excess``: a whole thread mining
    #: alerts in a few batches, a benign burst adds no more than a few batches of a slow miner
    cpu_excess_clip: float = 2.5
    #: leave a start-up transient out of the baseline (see ``warmup_batches``): the leading
    #: batches whose removal makes the rest's mean CPU time most precise (MSER), when they are
    #: busier than every later baseline batch -- for the CPU windows and the JSD alike
    warmup_trim: bool = True
    #: consecutive batches over a per-batch threshold before the per-batch judge alerts;
    #: a single batch is left to the long window, which alerts on it alone when it is
    #: far enough over (h7.detect.window)
    persist: int = 2
    #: ... unless its excess over the baseline's typical batch is this many times the
    #: threshold's: then one batch is enough (see ``unmistakable``)
    alone_excess: float = 2.0
    #: judge the agent's OWN processes' CPU time, not its exec'd tool runs' (h7.detect.proctree;
    #: needs the per-process samples of a live run or of a journal recorded with them): see
    #: ``_attributed_cpu`` and docs/detection.md "L1 and the agent's tool runs"
    attribute_tools: bool = True
    #: ... except runs of a program the agent's processes exec'd during the baseline (its routine
    #: work: a code executor's interpreter): their CPU is judged as the agent's own
    #: (``ProcessLedger.routine_runs``; docs/detection.md, "Routine programs")
    routine_runs: bool = True
    #: judge the agent's own bursts and sleeps, not its waits for a CPU (the run-queue split,
    #: ``SPLIT_CATEGORIES``), whenever the sensor's baseline batches carry them; journals and
    #: sensors from before it are judged on the unsplit shape as before
    runqueue_split: bool = True
    #: judge a batch smaller than the baseline's typical one against the threshold its own size
    #: calls for: calibrated on n-event subsamples of the baseline's batches (the JSD that
    #: sampling alone gives n events; see ``SchedChannel._calibrate_sizes``)
    size_aware: bool = True
    #: judge a batch smaller than the baseline's typical one against the baseline's quiet seconds
    #: too, and keep the nearer (``SchedChannel._score``): a quiet second is not a busy one's shape
    quiet_reference: bool = True
    #: an agent doing LESS than in its baseline is not drift: a batch smaller than the baseline's
    #: typical one, with less CPU time than its usual level and no burst longer than the
    #: baseline's bursts reach, is not held to the shape judges (``SchedChannel._doing_less``)
    doing_less: bool = True


def has_split(stats: np.ndarray | None) -> bool:
    """Whether a batch's counters carry the run-queue split (a sensor from session 10 on)."""
    if stats is None:
        return False
    return bool(np.any(stats["burst_hist"]) or np.any(stats["sleep_hist"]) or np.any(stats["rqwait_hist"]))


def sched_vector(stats: np.ndarray | None, split: bool = False) -> np.ndarray:
    """One batch's scheduling events as counts over CATEGORIES, or (``split``) SPLIT_CATEGORIES.

    Unsplit, the off-CPU waits run from a thread's switch-out to its next
    switch-in: a sleep of the agent's PLUS its wait in the run queue once
    woken, which is the host's load (a 5-ms sleep on an idle host, 5 + 3 ms
    on a busy one, a bucket further); and every preemption by another task
    cuts an on-CPU slice in two and adds an involuntary switch and a wait.
    Split, a burst is all the CPU time a thread used between two sleeps and a
    sleep ends at its wakeup (bpf/h7.h): host contention moves neither, while
    a miner thread -- 10-ms bursts every 100 ms, or a thread that never sleeps
    (chunked at 16 ms) -- lands in buckets the agent's baseline never had.
    """
    if stats is None:
        return np.zeros(len(SPLIT_CATEGORIES if split else CATEGORIES))
    if split:
        return np.concatenate(
            [
                np.asarray(stats["burst_hist"], dtype=np.float64),
                np.asarray(stats["sleep_hist"], dtype=np.float64),
                np.array([float(stats[c]) for c in SPLIT_COUNTERS]),
            ]
        )
    return np.concatenate(
        [
            np.asarray(stats["oncpu_hist"], dtype=np.float64),
            np.asarray(stats["offcpu_hist"], dtype=np.float64),
            np.array([float(stats[c]) for c in COUNTERS]),
        ]
    )


#: each tool_* field of STATS_DTYPE and the field it is a share of (bpf/h7.h, H7_SCOPE_TOOL)
TOOL_FIELDS = (
    ("burst_hist", "tool_burst_hist"),
    ("sleep_hist", "tool_sleep_hist"),
    ("switches_voluntary", "tool_switches_voluntary"),
    ("switches_involuntary", "tool_switches_involuntary"),
    ("wakeups", "tool_wakeups"),
    ("wakeups_new", "tool_wakeups_new"),
)


def own_stats(stats: np.ndarray) -> np.ndarray:
    """The agent's own processes' scheduling counts: the whole tree's less its tool runs'.

    The kernel counts a tool run's switches, bursts, sleeps and wakeups twice,
    in the agent's totals and in the ``tool_*`` fields (bpf/h7.h), from the
    agent's baseline's end on (``Batch.tool_split``).  Per-CPU sums read
    while a hook runs can be one count apart: clipped at zero.
    """
    out = stats.copy()
    for whole, tool in TOOL_FIELDS:
        w = np.asarray(stats[whole], dtype=np.int64)
        t = np.asarray(stats[tool], dtype=np.int64)
        out[whole] = np.maximum(w - t, 0)
    return out


def tool_events(stats: np.ndarray | None) -> int:
    """How many of a batch's scheduling events (the split shape's kinds) were tool runs'."""
    if stats is None:
        return 0
    return int(
        np.sum(stats["tool_burst_hist"])
        + np.sum(stats["tool_sleep_hist"])
        + sum(int(stats[f"tool_{c}"]) for c in SPLIT_COUNTERS)
    )


def smooth_hist(v: np.ndarray, w: float) -> np.ndarray:
    """Spread a share ``w`` of every log2-ns bucket to each neighbour (on- and off-CPU histograms).

    A slice or wait near a bucket boundary flips buckets when the host makes it
    10-20 % longer (caches and cores shared with a noisy neighbour, frequency):
    the agent did nothing new, but unsmoothed its counts move between two
    categories, and for a very regular agent -- whose baseline batches all
    agree, so its calibrated reference is tiny -- that small JSD adds up in
    the long window.  Spreading each count over its neighbours makes a shift
    by a fraction of an octave move a fraction of the mass, while a miner's
    5-ms slices among 100-us ones (six octaves apart) still land in buckets
    the baseline never had.  Counts are conserved (edge buckets keep what
    would fall off).  ``v`` may also be a matrix of such vectors, one per row.
    """
    if w <= 0:
        return v
    out = v.copy()
    for lo in (0, HIST_SLOTS):
        h = v[..., lo : lo + HIST_SLOTS]
        s = h * (1.0 - 2.0 * w)
        s[..., 1:] += w * h[..., :-1]
        s[..., :-1] += w * h[..., 1:]
        s[..., 0] += w * h[..., 0]
        s[..., -1] += w * h[..., -1]
        out[..., lo : lo + HIST_SLOTS] = s
    return out


def cpu_seconds(stats: np.ndarray | None, secs: float) -> float:
    """The agent's on-CPU time in this batch, CPU-seconds per second, from the slice histogram.

    The JSD above compares the *shape* of the event distribution: every
    switch counts once, however long the slice.  A GIL-bound two-thread miner
    in a busy Python agent adds ~200 slices of ~5 ms a second to thousands of
    short ones, so the shape barely moves (JSD 0.07-0.14 vs thresholds ~0.2 in
    make eval's langgraph and mcp stacks) while the agent's CPU use rises
    from a few percent to a whole core.  Weighting every slice by its length
    measures that directly.

    The sensor's exact ``oncpu_ns`` includes the slices still running when a
    batch closes (h7.sensor.sensor._cpu_ns): a thread that is never switched
    out -- a busy loop alone on a core -- counts in every second it runs.
    Journals recorded before that field existed carry 0 there: their CPU time
    is estimated from the slice histogram (each slice at its log2 bucket's
    middle, counted when it ENDS, so such a thread stays invisible until it
    stops).
    """
    if stats is None or secs <= 0:
        return 0.0
    exact = int(stats["oncpu_ns"])
    if exact > 0:
        return exact / 1e9 / secs
    return float(np.dot(np.asarray(stats["oncpu_hist"], dtype=np.float64), SLOT_NS)) / 1e9 / secs


class SchedChannel(Channel):
    name = "L1"

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        self.settings = config.settings(L1Settings)
        self._rows: list[np.ndarray] = []
        self.total = np.zeros(len(CATEGORIES))
        #: the run-queue split: judged on SPLIT_CATEGORIES (decided by the baseline's batches)
        self.split = False
        self.categories: list[str] = list(CATEGORIES)
        self._split_rows: list[np.ndarray] = []
        self._split_seen = False
        #: the baseline's raw [voluntary, involuntary] switches and run-queue waits (evidence only)
        self._switches = np.zeros(2)
        self._rqwait = np.zeros(HIST_SLOTS)
        self.usable_batches = 0
        #: raw (unsmoothed) baseline batches, both shapes: the size-aware thresholds subsample them
        self._raw_rows: list[np.ndarray] = []
        self._raw_split_rows: list[np.ndarray] = []
        #: (events, calibration) ascending: the per-batch JSD threshold of a batch with at least
        #: that many events, where it lies above ``cal`` (``_calibrate_sizes``; empty: ``cal`` alone)
        self.size_cals: list[tuple[int, Calibration]] = []
        #: the baseline's batches smaller than its typical one, pooled (``_score``)
        self.quiet = np.zeros(len(CATEGORIES))
        #: batches with fewer events are not fed to the JSD's window (the baseline's median batch)
        self.window_min_events = 0.0
        self.cal = Calibration(L1_FLOOR, "uncalibrated")
        #: the calibration the last judged batch's JSD was held against (its size's, ``_cal_at``)
        self._jsd_cal = self.cal
        self.last: dict[str, Any] = {"divergence": 0.0}
        #: the long-window judge: CUSUM of the per-batch divergence (h7.detect.window)
        self.cusum: Cusum | None = None
        #: CPU time: per baseline batch (learning), the baseline's mean, the judge's calibration
        self._cpu: list[float] = []
        self.cpu_mean = 0.0
        self.cpu_cal: Calibration | None = None
        self.cpu_cusum: Cusum | None = None
        #: the CPU-excess window: the baseline's typical (median) sustained CPU time, its CUSUM
        self.cpu_level = 0.0
        self.cpu_excess_cusum: Cusum | None = None
        #: the last ``cpu_sustain`` batches' CPU time
        self._recent_cpu: list[float] = []
        #: leading baseline batches left out of every model as a start-up burst (warmup_batches)
        self.warmup = 0
        #: consecutive batches over the per-batch threshold, per metric ("jsd", "cpu")
        self._over = {"jsd": 0, "cpu": 0}
        #: the agent's own processes vs its tool runs (h7.detect.proctree), and what was set apart
        self.ledger: ProcessLedger | None = None
        #: routine programs of a baseline loaded from a file (the ledger that learnt them is gone)
        self._loaded_programs: set[str] = set()
        self.tools = ToolTally()
        #: batches over the shape threshold that were the agent doing less (``_doing_less``)
        self.doing_less_batches = 0
        self._share: BatchShare | None = None
        #: this batch's shape was the agent's own processes' (tool runs counted apart in the
        #: kernel, ``own_stats``), and how many of its scheduling events were the tool runs'
        self._own_shape = False
        self._tool_events = 0
        #: a tool run started in this batch (an exec by a process of the agent other than its root)
        self._tool_started = False
        #: this batch's split whatever it was (``_charge``: who a verdict is charged to)
        self._batch_share: BatchShare | None = None
        #: the baseline ended but its CUSUMs / size thresholds are still being calibrated (steps
        #: of ``finish_baseline_deferred`` the engine runs in the sensor's idle time)
        self.calibrating = False

    def _ledger(self, ctx: ChannelContext) -> ProcessLedger | None:
        if self.ledger is None and ctx.info is not None and self.settings.attribute_tools:
            self.ledger = ProcessLedger(
                ctx.info.root_pid,
                armed=self.baselined,
                routine_runs=self.settings.routine_runs,
                baseline_programs=set(self._loaded_programs),
            )
        return self.ledger

    def on_events(self, events: list[Event], ctx: ChannelContext) -> list[Alert]:
        led = self._ledger(ctx)
        if led is not None:
            for ev in events:
                led.on_event(ev)
        return []

    def sample_pids(self) -> set[int] | None:
        if not self.settings.attribute_tools:
            return None
        return self.ledger.pids() if self.ledger is not None else set()

    def _attributed_cpu(self, batch: Batch, ctx: ChannelContext, total: float) -> float:
        """The CPU-s/s L1 judges: the agent's own processes' when a tool run used CPU in this batch.

        A tool the agent exec'd (pip, npm, pytest, a compiler) is a new program
        whose start L2 judged at its exec; its CPU is not the agent's behaviour
        drifting, and before this the first busy batch of any unbaselined tool
        certified (dev: agenttool_dev, red team's benign pip/npm/pytest acts).
        An in-agent miner -- a thread, or a child forked without exec -- is in
        the agent's own processes, whose CPU is MEASURED per process
        (h7.detect.proctree), never inferred as the rest: when any own process
        ran unmeasured (exited between samples) or no sample exists (an older
        journal), the whole tree's CPU is judged, as before.  Never more than
        the kernel's total for the agent (the per-process clock ticks are
        coarser).
        """
        led = self._ledger(ctx)
        self._share = self._batch_share = None
        if led is None:
            return total
        share = self._batch_share = led.close_batch(batch.procs.get(ctx.agent))
        if share.tools_alive == 0:
            return total
        if share.own_s is None:
            self.tools.unmeasured += 1
            return total
        self._share = share
        own = min(total, share.own_s / _secs(batch))
        if total > own:
            self.tools.batches += 1
            self.tools.cpu_s = round(self.tools.cpu_s + (total - own) * _secs(batch), 3)
            self.tools.last_exe = led.last_exe
        return own

    def _tool_dominated(self, total: float, own: float) -> bool:
        """Most of this batch's CPU was tool runs': its scheduling shape is theirs, not the agent's.

        The JSD compares the shape of the whole tree's scheduling events; a
        compiler's slices and waits swamp the agent's.  Such a batch is left
        to the CPU windows, which judge the agent's own measured CPU (a miner
        running beside the tool still counts there).  Only when the tools' CPU
        is also above the agent's baseline mean: an `ls` or `git status` that
        outweighs an idle agent in a quiet second leaves the batch's CPU where
        the baseline has it, and its shape stays judged (a stream of tiny
        execs must not blind the JSD).
        """
        return self._share is not None and total - own > max(own, self.cpu_mean)

    def _own_busy(self, cpu: float) -> bool:
        """The agent's own CPU lies ``cpu_excess`` or more above its usual level (a miner's does)."""
        usual = self.cpu_level if self.cpu_excess_cusum is not None else self.cpu_mean
        rise = float(self.settings.cpu_excess) if self.settings.cpu_excess > 0 else CPU_EXCESS_OWN
        return cpu - usual >= rise

    def _smoothed(self, counts: np.ndarray, ref: np.ndarray) -> np.ndarray:
        a = self.settings.pseudocount
        return (counts + a * ref) / (counts.sum() + a)

    def learn(self, batch: Batch, ctx: ChannelContext) -> None:
        s = batch.stats.get(ctx.agent)
        raw = sched_vector(s)
        v = smooth_hist(raw, self.settings.smooth)
        self._rows.append(v)
        self._raw_rows.append(raw)
        self.total += v
        # both shapes are kept until the baseline ends: a sensor that fills the split is judged on it
        raw_split = sched_vector(s, split=True)
        self._split_rows.append(smooth_hist(raw_split, self.settings.smooth))
        self._raw_split_rows.append(raw_split)
        self._split_seen = self._split_seen or has_split(s)
        if s is not None:
            self._switches += [float(s["switches_voluntary"]), float(s["switches_involuntary"])]
            self._rqwait += np.asarray(s["rqwait_hist"], dtype=np.float64)
        # the baseline is the whole tree's, as before attribution: tool runs in it keep raising
        # its references, so judging only the own CPU later can lower a batch's score, never
        # raise it (the ledger still follows the samples, so monitoring starts measured)
        led = self._ledger(ctx)
        if led is not None:
            led.close_batch(batch.procs.get(ctx.agent))
        self._cpu.append(cpu_seconds(s, _secs(batch)))

    def finish_baseline(self, ctx: ChannelContext) -> None:
        for _ in self.finish_baseline_deferred(ctx) or ():
            pass

    def finish_baseline_deferred(self, ctx: ChannelContext) -> Iterator[None] | None:
        """The model frozen now; the CUSUMs and the size-aware thresholds as steps (``_finish_steps``)."""
        steps = self._finish_steps(ctx)
        next(steps)  # up to the first costly part
        self.calibrating = True
        return steps

    def _finish_steps(self, ctx: ChannelContext) -> Iterator[None]:
        """The end of L1's baseline, in the order it always ran; a ``yield`` before each costly part.

        The first part (to the first ``yield``) freezes the model: the
        ledger is armed (tool runs start counting with the next event), the
        shape, warm-up cut and per-batch threshold are set.  Every later part
        is a CUSUM simulation or one size of the size-aware thresholds, a
        few ms each (Channel.finish_baseline_deferred); each has its own
        fixed seed, so when they run changes nothing.
        """
        Channel.finish_baseline(self, ctx)
        led = self._ledger(ctx)
        if led is not None:
            led.arm()  # tool runs are programs started after the baseline (ProcessLedger.arm)
        minev = self.settings.min_events
        self.split = bool(self.settings.runqueue_split and self._split_seen)
        if self.split:
            self._rows, self.categories = self._split_rows, list(SPLIT_CATEGORIES)
            self._raw_rows = self._raw_split_rows
            self.total = np.sum(self._rows, axis=0) if self._rows else np.zeros(len(SPLIT_CATEGORIES))
        self._split_rows, self._raw_split_rows = [], []
        rows = np.vstack(self._rows) if self._rows else np.zeros((0, len(self.categories)))
        raw = np.vstack(self._raw_rows) if self._raw_rows else np.zeros((0, len(self.categories)))
        self._raw_rows = []
        # a start-up burst is not the agent's behaviour: out of every model of it (warmup_batches)
        cut = warmup_batches(np.asarray(self._cpu, dtype=np.float64)) if self.settings.warmup_trim else 0
        self.warmup = cut
        if cut:
            rows, raw = rows[cut:], raw[cut:]
            self.total = rows.sum(axis=0)
            self._cpu = self._cpu[cut:]
        big = rows.sum(axis=1) >= minev
        usable = rows[big]
        self.usable_batches = int(usable.shape[0])
        samples: list[float] = []
        counts: list[float] = []
        if usable.shape[0] >= 2:
            for c in usable:
                rest = self.total - c
                if rest.sum() <= 0:
                    continue
                q = rest / rest.sum()
                samples.append(jsd_bits(self._smoothed(c, q), q))
                counts.append(float(c.sum()))
        # The JSD of a batch is partly sampling noise, and the fewer events a batch has the
        # more: an agent QUIETER than its baseline gives batches of higher JSD for no reason
        # but their size, and a CUSUM adds that up (red team, round 3: 9 false alerts on a
        # quiet demo agent).  So the window judges only batches with at least as many events
        # as the baseline's typical one, and is calibrated on those baseline batches alone.
        self.window_min_events = float(np.quantile(counts, WINDOW_MIN_QUANTILE)) if counts else 0.0
        self._window_samples = [
            x for x, n in zip(samples, counts, strict=True) if n >= self.window_min_events
        ]
        self.cal = calibrate_threshold(
            samples,
            floor=self.config.floor("L1", "DRIFT_DETECTED", L1_FLOOR),
            budget=self.config.false_alarm_budget,
            override=self.config.threshold_override("L1", "DRIFT_DETECTED"),
        )
        # the baseline's quiet seconds: every batch smaller than its typical one (``_score``)
        typical = self.window_min_events
        self.quiet = rows[rows.sum(axis=1) < typical].sum(axis=0) if counts else np.zeros_like(self.total)
        if self.cal.method == "override":
            # an operator's threshold is for the JSD to the baseline, as it always was
            self.quiet = np.zeros_like(self.total)
        self._jsd_cal = self.cal
        self._rows = []
        yield
        self.cusum = self._calibrate_window(samples) if self.settings.window else None
        yield
        if self.settings.size_aware and counts:
            self.size_cals = yield from self._calibrate_sizes(raw, rows)
        else:
            self.size_cals = []
        yield from self._calibrate_cpu()
        self.calibrating = False

    def _calibrate_sizes(
        self, raw: np.ndarray, rows: np.ndarray
    ) -> Generator[None, None, list[tuple[int, Calibration]]]:
        """Per-batch thresholds for batches smaller than the baseline's typical one.

        *Sampling*: the JSD of a batch of n events drawn from the baseline's
        own distribution is not 0.  For k occupied kinds and a pseudo-counts
        it is about (k - 1) n / (8 ln 2 (n + a)^2) bits on average (a scaled
        chi-square with k - 1 degrees of freedom), so it grows as a batch
        shrinks: k = 40, a = 20, unsmoothed, ~0.07 bits at n = 50 and ~0.01 at
        n = 800.  The threshold calibrated on the baseline's batches describes
        batches of *their* size; an agent whose baseline batches had hundreds
        of events has its threshold at the 0.05 floor and its quiet seconds of
        50-80 events cross it by sampling alone.  So for each size n on a
        geometric grid from ``min_events`` up to the baseline's median batch,
        every baseline batch with more than n events is thinned at random to
        ~n (each event kept with probability n / its count, ``SIZE_DRAWS``
        times: an n-event subsample of what the agent did in that second),
        batches with at most n count as they are, and each is scored exactly
        as a monitored batch of that size is (``_score``, against the rest of
        the baseline).  Those samples are calibrated like the baseline's own
        (same tail, budget and floor).  Model-free on purpose: the event kinds
        come in groups (a sleep is a voluntary switch, a wakeup and a burst)
        and the agent's seconds differ, which the subsamples carry and the
        multinomial formula does not.

        The thresholds never fall as the batch shrinks (each size gets the
        highest of its own and every larger size's) and never lie below the
        large-batch ``cal``: a size-aware threshold can only remove verdicts.
        Only sizes whose threshold is above ``cal`` are kept.  Cost: one
        vectorised draw per grid size, a few ms once per agent; a generator
        that yields after each size, so each is its own step of the deferred
        end of the baseline (``finish_baseline_deferred``), and returns the list.
        """
        sizes = raw.sum(axis=1)
        usable = sizes >= self.settings.min_events
        if int(usable.sum()) < WINDOW_MIN_SAMPLES or self.cal.method == "override":
            return []
        top = self.window_min_events
        lo = float(max(1, self.settings.min_events))
        if top <= lo:
            return []
        step = max(SIZE_STEP, (top / lo) ** (1.0 / SIZE_GRID_MAX))
        grid: list[int] = []
        g = lo
        while g < top and len(grid) < SIZE_GRID_MAX:
            grid.append(round(g))
            g *= step
        rng = np.random.default_rng(0)
        # the leave-one-out references, as the baseline's own samples have them
        rest = self.total[None, :] - rows
        small = sizes < top
        quiet_rest = self.quiet[None, :] - np.where(small[:, None], rows, 0.0)
        ok = usable & (rest.sum(axis=1) > 0)
        floor = self.config.floor("L1", "DRIFT_DETECTED", L1_FLOOR)
        cals: list[tuple[int, Calibration]] = []
        for n in grid:
            keep = ok & (sizes <= n)
            samples = self._score_rows(rows[keep], rest[keep], quiet_rest[keep]).tolist()
            thin = np.flatnonzero(ok & (sizes > n))
            if thin.size:
                src = raw[thin].astype(np.int64)
                p_keep = np.broadcast_to((n / sizes[thin])[None, :, None], (SIZE_DRAWS, *src.shape))
                sub = rng.binomial(np.broadcast_to(src, (SIZE_DRAWS, *src.shape)), p_keep)
                sub_rows = smooth_hist(sub.reshape(-1, src.shape[1]).astype(np.float64), self.settings.smooth)
                idx = np.tile(thin, SIZE_DRAWS)
                samples += self._score_rows(sub_rows, rest[idx], quiet_rest[idx]).tolist()
            cals.append((n, calibrate_threshold(samples, floor=floor, budget=self.config.false_alarm_budget)))
            yield  # one size done: the next one is another step
        # never lower for a smaller batch, never below the large-batch threshold
        out: list[tuple[int, Calibration]] = []
        best = self.cal
        for n, c in reversed(cals):
            if c.threshold > best.threshold:
                best = c
            if best.threshold > self.cal.threshold:
                out.append((n, best))
        return out[::-1]

    def _score(self, c: np.ndarray, ref: np.ndarray, quiet: np.ndarray | None) -> float:
        """A batch's shape divergence: JSD to the baseline, or to its quiet seconds if that is nearer.

        ``ref``/``quiet``: counts (normalised here).  An agent has at least
        two states -- waiting on its model, working -- and the baseline's
        distribution is their mixture, dominated by the busy seconds' many
        events.  A quiet second has the quiet state's shape (timer wakeups,
        long sleeps), which lies a fixed distance from the mixture however
        many quiet seconds the baseline saw: make eval's mcp dev stack, 343
        benign batches smaller than its typical one, JSD 0.072 to the
        baseline, 0.002 to the pooled batches of the baseline smaller than its
        typical one (``quiet``).  A batch smaller than the baseline's typical
        one is therefore judged against the nearer of the two: no weaker for
        a miner, whose bursts fall in buckets neither state has.
        """
        if quiet is None or not self.settings.quiet_reference or c.sum() >= self.window_min_events:
            q = ref / ref.sum()
            return jsd_bits(self._smoothed(c, q), q)
        return float(self._score_rows(c[None, :], ref[None, :], quiet[None, :])[0])

    def _score_rows(self, c: np.ndarray, ref: np.ndarray, quiet: np.ndarray) -> np.ndarray:
        """``_score`` of each row of ``c`` against the same rows of ``ref`` and ``quiet`` (vectorised)."""
        if c.shape[0] == 0:
            return np.zeros(0)
        a = self.settings.pseudocount
        n = c.sum(axis=1, keepdims=True)
        q = ref / ref.sum(axis=1, keepdims=True)
        d = _jsd_rows((c + a * q) / (n + a), q)
        qt = quiet.sum(axis=1, keepdims=True)
        small = (n[:, 0] < self.window_min_events) & (qt[:, 0] > 0)
        if self.settings.quiet_reference and small.any():
            qs = quiet[small] / qt[small]
            ds = _jsd_rows((c[small] + a * qs) / (n[small] + a), qs)
            d[small] = np.minimum(d[small], ds)
        return d

    def _cal_at(self, n: float) -> Calibration:
        """The per-batch JSD calibration for a batch of ``n`` events (``_calibrate_sizes``).

        The grid size at or below n (a batch between two sizes gets the
        smaller size's, higher threshold); the large-batch calibration for a
        batch as big as the baseline's typical one, or when no size needed
        more than it.
        """
        cal = self.cal
        if n >= self.window_min_events:
            return cal
        for size, c in self.size_cals:
            if n >= size:
                cal = c
            else:
                break
        return cal

    def _calibrate_cpu(self) -> Iterator[None]:
        """CPU time "times the baseline": each baseline batch against the mean of the others.

        Judged by a CUSUM of its log whose per-batch input is clipped at the
        calibrated per-batch threshold (``clip_at_cap``): a lone busy second
        adds at most one threshold's worth, so only CPU use that stays up
        for several batches -- a miner, a busy loop -- passes h.  Yields
        before the CPU-excess CUSUM, the ratio's per-batch threshold and its
        CUSUM: each a step of ``finish_baseline_deferred``.
        """
        cpu = np.asarray(self._cpu, dtype=np.float64)
        self._cpu = []
        if not (self.settings.cpu and self.settings.window) or cpu.size < 2:
            return
        n = cpu.size
        self.cpu_mean = float(cpu.mean())
        yield
        self._calibrate_cpu_excess(sustained(cpu, self.settings.cpu_sustain))
        yield
        loo = (cpu.sum() - cpu) / (n - 1)
        ratios = (sustained(cpu, self.settings.cpu_sustain) + CPU_PRIOR) / (loo + CPU_PRIOR)
        self.cpu_cal = calibrate_threshold(
            ratios,
            floor=max(self.settings.cpu_floor, 1.0),
            budget=self.config.false_alarm_budget,
        )
        yield
        if self.settings.window:
            self.cpu_cusum = calibrate_cusum(
                np.log(ratios),
                budget=self.config.false_alarm_budget,
                ref_sigmas=self.config.window_ref_sigmas,
                single_cap=float(np.log(self.cpu_cal.threshold)),
                clip_at_cap=True,
                cap_batches=3,
                # the smallest rise worth detecting is cpu_floor x the baseline: only CPU time
                # sustained above half of that (in log: its square root) counts as evidence
                min_ref=0.5 * float(np.log(max(self.settings.cpu_floor, 1.0))),
            )

    def _calibrate_cpu_excess(self, sus: np.ndarray) -> None:
        """The CPU-excess window: a CUSUM of how far the agent's sustained CPU time lies above its usual.

        The ratio window above judges CPU time *relative to the baseline's
        mean*.  A slow miner -- one thread hashing 10 % of the time -- adds a
        fixed ~0.1 CPU-s/s, which is only ~1.5-3x an agent whose baseline
        mean is 0.03-0.1 CPU-s/s, and the mean of a 30-s baseline is pulled up
        by the agent's bursts (start-up, JIT and GC in a V8 process, a model
        reply parsed): the ratio's reference (at least 2x) then never sees it.
        This window measures the rise in CPU-seconds per second over the
        baseline's *median* sustained level (where the agent sits between
        bursts).  The reference is half of ``cpu_excess`` (Page: halfway to
        the smallest rise worth detecting) and h is at least
        ``cpu_excess_batches`` batches of that rise: a miner adds to it every
        second, an idle agent takes it down every second.  Each batch's rise
        counts at most ``cpu_excess_clip`` x ``cpu_excess``: a whole thread
        mining alerts in a few batches, while a benign burst (already halved
        by the sustained-CPU score: one busy second counts nothing) adds at
        most a few batches' worth.  Chosen on development journals
        (docs/detection.md, L1 "The CPU-excess window").
        """
        d = float(self.settings.cpu_excess)
        if d <= 0 or sus.size < 2:
            return
        self.cpu_level = float(np.median(sus))
        ref = 0.5 * d
        clip = max(1.0, float(self.settings.cpu_excess_clip)) * d
        h_min = max(1.0, float(self.settings.cpu_excess_batches)) * (d - ref)
        cu = calibrate_cusum(
            np.minimum(sus - self.cpu_level, clip),
            budget=self.config.false_alarm_budget,
            ref_sigmas=self.config.window_ref_sigmas,
            single_cap=clip,
            clip_at_cap=True,
            min_ref=ref,
        )
        # a busy, noisy agent's reference is raised by its spread (calibrate_cusum): its h still
        # needs as many batches of evidence as a quiet agent's
        cu.h = max(cu.h, h_min)
        self.cpu_excess_cusum = cu

    def _calibrate_window(self, samples: list[float]) -> Cusum:
        return calibrate_cusum(
            samples,
            budget=self.config.false_alarm_budget,
            ref_sigmas=self.config.window_ref_sigmas,
            min_sigma=self.settings.window_min_sigma,
            single_cap=self.cal.threshold,
            override=self.settings.window_h,
            clip_at_cap=self.settings.window_clip,
            cap_batches=self.settings.window_cap_batches,
            min_ref=self.cal.sample_median
            + self.settings.window_ref_frac * (self.cal.threshold - self.cal.sample_median)
            if self.settings.window_ref_frac > 0
            else None,
        )

    def judge(self, batch: Batch, ctx: ChannelContext) -> list[Alert]:
        """Two scores per batch, each with a per-batch and a long-window judge; at most one alert.

        The per-batch judges need ``persist`` consecutive batches over their
        threshold: a 30-s baseline under-samples a real agent's benign tail,
        and make eval's false alerts were single batches just over it.  Every
        batch (reported or not) feeds the CUSUMs, whose h lets a single batch
        alert alone only when it lies well beyond the per-batch threshold.
        """
        s = batch.stats.get(ctx.agent)
        # the kernel counted the tool runs' scheduling apart: the shape judged is the agent's own
        # processes' alone, whatever tools ran beside them (split shape only: it has the fields)
        own = self.split and s is not None and ctx.agent in batch.tool_split
        self._own_shape = own
        self._tool_started = own and _tool_started(batch, ctx)
        shaped = own_stats(s) if own and s is not None else s
        raw = sched_vector(shaped, self.split)
        c = smooth_hist(raw, self.settings.smooth)
        n = float(c.sum())
        tot = self.total.sum()
        found: list[tuple[float, str, str]] = []  # (strength, metric, judge)
        cpu_tree = cpu_seconds(s, _secs(batch))
        cpu = self._attributed_cpu(batch, ctx, cpu_tree)
        if own:
            self._tool_events = tool_events(s)
            tool_batch = self._tool_events > n and not self._own_busy(cpu)
        else:
            tool_batch = self._tool_dominated(cpu_tree, cpu)
        self._recent_cpu.append(cpu)
        del self._recent_cpu[: -max(1, self.settings.cpu_sustain)]
        cpu_ratio = (min(self._recent_cpu) + CPU_PRIOR) / (self.cpu_mean + CPU_PRIOR)
        self.last = {"divergence": 0.0, "events": n, "judged": False, "cpu_s_per_s": round(cpu, 6),
                     "cpu_times_baseline": round(cpu_ratio, 4)}  # fmt: skip
        if self._share is not None:
            self.last.update(cpu_tree_s_per_s=round(cpu_tree, 6), tools_alive=self._share.tools_alive)
        if own:
            self.last["tool_run_events"] = self._tool_events
        p = q = None
        if tool_batch:
            self.tools.jsd_skipped += 1
            self._over["jsd"] = 0
        elif n >= self.settings.min_events and tot > 0 and self._jsd_calibrated():
            q = self.total / tot
            p = self._smoothed(c, q)
            d_all = jsd_bits(p, q)
            # a batch smaller than the baseline's typical one: the nearer of the baseline and its
            # quiet seconds (``_score``; d_all itself for a typical batch), and its size's threshold
            d = self._score(c, self.total, self.quiet)
            cal = self._cal_at(n)
            self._jsd_cal = cal
            self.last.update(
                divergence=d, judged=True, entropy_batch=entropy_bits(p), threshold=cal.threshold,
                jsd_to_baseline=d_all,
            )  # fmt: skip
            # the window only sees batches with a typical baseline batch's support (see finish_baseline)
            window = self.cusum if n >= self.window_min_events else None
            if d > cal.threshold and self._doing_less(raw, n, cpu):
                self.doing_less_batches += 1
                self.last["doing_less"] = True
                self._over["jsd"] = 0
            else:
                found += self._judge_metric("jsd", d, cal, window)
        else:
            self._over["jsd"] = 0
        # CPU time is judged over the long window only: agents burst for a second or two
        # (parsing a reply, running a tool), a miner burns for as long as it mines.
        if self.cpu_cusum is not None and self.cpu_cusum.update(float(np.log(cpu_ratio))):
            found.append((self.cpu_cusum.s / self.cpu_cusum.h, "cpu", "cusum"))
        # the same sustained CPU time as a rise in CPU-s/s over the agent's usual (a slow miner)
        ex = self.cpu_excess_cusum
        if ex is not None and ex.update(min(self._recent_cpu) - self.cpu_level):
            found.append((ex.s / ex.h, "cpu_excess", "cusum"))
        if not found:
            return []
        _, metric, judge = max(found)
        if q is None:
            q = self.total / tot if tot > 0 else np.full(len(self.categories), 1.0 / len(self.categories))
            p = self._smoothed(c, q)
        assert p is not None
        alert = self._alert(batch, ctx, p, q, c, s, metric, judge, cpu, cpu_ratio)
        # one change, one episode: both judges of both metrics start afresh after an alert
        for _, cu in self._windows():
            if cu is not None:
                cu.reset()
        self._over = {"jsd": 0, "cpu": 0}
        return [alert]

    def _doing_less(self, raw: np.ndarray, n: float, cpu: float) -> bool:
        """Whether this batch's shape differs from the baseline only by the agent doing less.

        An agent whose baseline was learnt while it worked -- redis under a benchmark, an agent
        attached in the middle of a task -- later idles: fewer wakeups, longer sleeps, its timer's
        work instead of requests'.  That moves its shape as far as any attack does (JSD 0.17 bits
        against a 0.05 threshold for an idle redis), and its baseline has no quiet second to
        compare with (``quiet_reference``).  What L1 is there to catch is the agent working
        differently or harder: a miner's long bursts, CPU time above its usual.  So a batch is
        left to the CPU windows, not held to the shape judges, when all of these hold:

        * it is smaller than the baseline's typical batch (fewer scheduling events);
        * the agent's own CPU time in it is at most its usual level (the baseline's median
          sustained CPU-s/s, ``cpu_level``);
        * none of its bursts (CPU time between two sleeps) is longer than the baseline's bursts
          reach: the log2 bucket below which ``QUIET_BURST_QUANTILE`` of them lie.  A miner
          thread's 10-ms bursts, or a thread that never sleeps, lie far beyond a request
          handler's.

        The run-queue split's shape only (bursts are the agent's own, whatever the host's
        load); a baseline file without a CPU level never exempts.
        """
        if not (self.settings.doing_less and self.split) or self.cpu_level <= 0:
            return False
        if n >= self.window_min_events or cpu > self.cpu_level:
            return False
        bursts = self.total[:HIST_SLOTS]
        total = float(bursts.sum())
        if total <= 0:
            return False
        reach = int(np.searchsorted(np.cumsum(bursts), QUIET_BURST_QUANTILE * total))
        return not np.any(raw[reach + 1 : HIST_SLOTS] > 0)

    def _jsd_calibrated(self) -> bool:
        """Whether the baseline had enough busy batches to say how far a benign batch's shape wanders.

        Fewer than WINDOW_MIN_SAMPLES (the long window's own minimum) baseline
        batches with ``min_events`` events: the per-batch threshold would be the
        floor, or a tail extrapolated from two or three numbers, and a quiet
        agent's first busy batch -- or every batch after a start-up burst that
        was the baseline's only busy part (warmup_batches) -- was judged against
        that.  The JSD judges stay off for such an agent; the CPU windows, which
        use every baseline batch, still judge it.  An operator's threshold
        override always judges.
        """
        return self.cal.method == "override" or self.cal.n >= WINDOW_MIN_SAMPLES

    def _judge_metric(
        self, metric: str, value: float, cal: Calibration, cusum: Cusum | None
    ) -> list[tuple[float, str, str]]:
        """This metric's verdicts for one batch: (strength, metric, "batch"|"cusum")."""
        out: list[tuple[float, str, str]] = []
        threshold = cal.threshold
        if value > threshold:
            self._over[metric] += 1
            alone = unmistakable(value, cal, self.settings.alone_excess)
            if metric == "jsd" and self._tool_started:
                # the agent started a tool run in this batch: the child it forked ran the agent's
                # image until its exec (own processes' short bursts, a new task), a transient of
                # the start; a shape that stays changed is still certified after ``persist``
                alone = False
            if metric == "jsd" and cal is not self.cal:
                # a small batch's bar is its size's AND the typical batch's: its own calibration
                # (higher threshold, but a higher median too) never lowers the bar for one batch
                alone = alone and unmistakable(value, self.cal, self.settings.alone_excess)
            if self._over[metric] >= max(1, self.settings.persist) or alone:
                out.append((value / threshold, metric, "batch"))
        else:
            self._over[metric] = 0
        if cusum is not None and cusum.update(value):
            out.append((cusum.s / cusum.h if cusum.h > 0 else 1.0, metric, "cusum"))
        return out

    def _alert(
        self,
        batch: Batch,
        ctx: ChannelContext,
        p: np.ndarray,
        q: np.ndarray,
        c: np.ndarray,
        stats: np.ndarray | None,
        metric: str,
        judge: str,
        cpu: float,
        cpu_ratio: float,
    ) -> Alert:
        top = np.argsort(-np.abs(p - q))[:6]
        n = float(c.sum())
        raw = c / n if n else c
        d = float(self.last.get("divergence", 0.0))
        evidence: dict[str, Any] = {
            "metric": metric,
            "jsd_bits": round(d, 5),
            # the threshold for this batch's size (``_cal_at``); the large-batch one beside it
            "jsd_threshold": self._jsd_cal.threshold,
            "jsd_threshold_typical_batch": self.cal.threshold,
            "cpu_s_per_s": round(cpu, 5),
            "cpu_baseline_s_per_s": round(self.cpu_mean, 5),
            "cpu_times_baseline": round(cpu_ratio, 4),
            "cpu_clip_times_baseline": self.cpu_cal.threshold if self.cpu_cal is not None else None,
            "events": int(n),
            # the whole tree's CPU when the agent's own was judged apart from its tool runs
            **(
                {
                    "cpu_tree_s_per_s": round(float(self.last.get("cpu_tree_s_per_s", cpu)), 5),
                    "tools_alive": self._share.tools_alive,
                }
                if self._share is not None
                else {}
            ),
            "shifted": [
                {
                    "kind": self.categories[i],
                    "batch": round(float(raw[i]), 4),
                    "baseline": round(float(q[i]), 4),
                }
                for i in top
            ],
            # what the host's other processes did to the agent (never judged when split)
            "runqueue_split": self.split,
            "involuntary_share": {
                "batch": _share(_switches(stats)),
                "baseline": _share(self._switches),
            },
            "rqwait_over_1ms_share": {
                "batch": _long_share(None if stats is None else np.asarray(stats["rqwait_hist"], np.float64)),
                "baseline": _long_share(self._rqwait),
            },
        }
        key, evidence["charged_to"] = self._charge(metric, cpu)
        if judge == "batch":
            evidence["window_ns"] = [int(batch.t0_ns), int(batch.t1_ns)]
            evidence["batches_over_threshold"] = self._over[metric]
            if metric == "jsd":
                evidence["entropy_batch_bits"] = round(entropy_bits(p), 4)
                evidence["entropy_baseline_bits"] = round(entropy_bits(q), 4)
                thr = self._jsd_cal.threshold
                return ctx.alert("L1", "DRIFT_DETECTED", int(batch.t1_ns), d, thr, key=key, evidence=evidence)
            assert self.cpu_cal is not None
            return ctx.alert("L1", "DRIFT_DETECTED", int(batch.t1_ns), cpu_ratio, self.cpu_cal.threshold,
                             key=key, evidence=evidence)  # fmt: skip
        cu = dict(self._windows())[metric]
        assert cu is not None
        evidence.update(
            window="cusum",
            cusum=round(cu.s, 5),
            h=round(cu.h, 5),
            reference=round(cu.ref, 5),
            batches_accumulating=cu.run,
            window_ns=[int(batch.t1_ns) - cu.run * self.config.batch_ns, int(batch.t1_ns)],
        )
        if metric == "jsd":
            evidence["reference_jsd_bits"] = round(cu.ref, 5)
            evidence["jsd_bits_this_batch"] = round(d, 5)
            evidence["per_batch_threshold"] = self.cal.threshold
        elif metric == "cpu":
            evidence["reference_cpu_times_baseline"] = round(float(np.exp(cu.ref)), 4)
            evidence["clipped_at_times_baseline"] = self.cpu_cal.threshold if self.cpu_cal else None
        else:  # cusum, h, reference in CPU-s/s above the baseline's median sustained level
            evidence["cpu_baseline_level_s_per_s"] = round(self.cpu_level, 5)
            evidence["cpu_excess_s_per_s_this_batch"] = round(min(self._recent_cpu) - self.cpu_level, 5)
            evidence["clipped_at_s_per_s"] = cu.clip
        # divergence/threshold of a window alert: the CUSUM against its h
        return ctx.alert("L1", "DRIFT_DETECTED", int(batch.t1_ns), cu.s, cu.h, key=key, evidence=evidence)

    def _charge(self, metric: str, cpu: float) -> tuple[str, dict[str, Any]]:
        """The fold key of this verdict, and what it is charged to: the agent's own processes or a tool run.

        The key is what "the same cause again" means to alert folding
        (h7.detect.folding): its repeats within ``fold_gap`` fold into one
        certificate.  One key per agent (``sched``, before session 13) let a
        tool run's verdict hold the key while a miner started: red-team round
        10's first run folded a proof-of-work's 14 verdicts into the L1
        certificate of an earlier phase's ``python step.py`` runs, 21 s
        before.  So the key names the cause L1 already attributes
        (h7.detect.proctree):

        * ``sched`` -- the agent's OWN processes (its threads, children forked
          without exec): no tool run was alive in the batch; or the verdict
          is on CPU time measured as the agent's own; or, for the shape, the
          agent's own measured CPU lay ``cpu_excess`` above its usual level
          (the agent itself was busy, whatever else ran).  Also the key when
          nothing is attributed (``attribute_tools`` off, or the own CPU
          not measured in this batch: the whole tree was judged, as before).
        * ``sched:tool:<program>`` -- a tool run was alive, the agent's own
          CPU was measured and not above its usual level, and the verdict is
          on the scheduling shape: the whole tree's counts of a batch the tools
          did not dominate, or (``Batch.tool_split``) the own processes' counts,
          which changed while the tool ran (``processes`` "own, beside a tool
          run": the agent waiting on it, polling it).  ``<program>``
          is the program the agent started for that run (``make``, not each
          compiler under it): the run whose processes used the most CPU in
          the batch, else the one started last.

        A steady cause keeps its key (a miner's verdicts stay ``sched`` while
        tools come and go beside it, since its own CPU is high); a different
        cause after a held alert -- a miner after a tool run's verdict, or
        another tool run -- has another key, so it is certified at once.
        """
        b = self._batch_share
        usual = self.cpu_level if self.cpu_excess_cusum is not None else self.cpu_mean
        measured = self._share is not None  # the agent's own CPU was measured apart from its tools
        info: dict[str, Any] = {"processes": "own"}
        if metric == "jsd" and self._own_shape:
            # the shape judged was the own processes' alone (the kernel kept the tool runs apart);
            # who it is charged to is decided as before: an agent whose own CPU stays usual while
            # a tool runs changed its shape WITH the tool run (waiting on it, polling it)
            info.update(shape="own processes", tool_run_events_left_out=self._tool_events)
        if b is None or b.tools_alive == 0 or not b.tool_run:
            return "sched", info
        info["tools_alive"] = b.tools_alive
        if not measured:  # the whole tree was judged, as before attribution: nothing to charge apart
            info.update(processes="unattributed", unmeasured=b.unmeasured)
            return "sched", info
        info["own_cpu_above_usual_s_per_s"] = round(cpu - usual, 5)
        if metric != "jsd" or self._own_busy(cpu):
            return "sched", info
        prog = _program(b.tool_run)
        info.update(processes="own, beside a tool run" if self._own_shape else "tool_run", program=prog)
        return f"sched:tool:{prog}", info

    def _windows(self) -> tuple[tuple[str, Cusum | None], ...]:
        """The long-window judges by metric name (the status file and certificates use these)."""
        return (("jsd", self.cusum), ("cpu", self.cpu_cusum), ("cpu_excess", self.cpu_excess_cusum))

    def status(self) -> dict[str, Any]:
        return {
            "state": "calibrating" if self.calibrating else "monitoring" if self.baselined else "learning",
            "divergence": float(self.last.get("divergence", 0.0)),
            # what that divergence is held to: the last judged batch's size's threshold
            # (``_cal_at``); the typical batch's is ``calibration.threshold``
            "threshold": self._jsd_cal.threshold,
            "calibration": self.cal.to_dict(),
            # [events, threshold]: a smaller batch is held to the threshold of its size (_cal_at)
            "size_thresholds": [[n, round(c.threshold, 6)] for n, c in self.size_cals],
            # one CUSUM status per metric, like L4's (None: no long window)
            "window": {m: cu.status() for m, cu in self._windows() if cu is not None} or None,
            "cpu": {
                "baseline_s_per_s": self.cpu_mean,
                "clip_times_baseline": self.cpu_cal.threshold if self.cpu_cal is not None else None,
                "level_s_per_s": self.cpu_level,
            },
            # leading baseline batches left out as a start-up burst (warmup_batches)
            "warmup_batches": self.warmup,
            # False: too few busy baseline batches for the JSD judges, only the CPU windows judge
            "jsd_judging": self._jsd_calibrated(),
            # the quieter signal for busy tool runs: CPU set apart as exec'd tools' (see _attributed_cpu)
            "tools": dataclasses.asdict(self.tools),
            # batches over the shape threshold that were the agent doing less (_doing_less)
            "doing_less_batches": self.doing_less_batches,
            "baseline_events": int(self.total.sum()),
            # judged on the agent's own bursts and sleeps, not its waits for a CPU (SPLIT_CATEGORIES)
            "runqueue_split": self.split,
            "baseline_entropy_bits": entropy_bits(self.total / self.total.sum()) if self.total.sum() else 0.0,
            "last": self.last,
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "total": [float(x) for x in self.total],
            "usable_batches": self.usable_batches,
            "cal": self.cal.to_dict(),
            "size_cals": [[n, c.to_dict()] for n, c in self.size_cals],
            "quiet": [float(x) for x in self.quiet],
            "cusum": self.cusum.to_state() if self.cusum is not None else None,
            "cpu_mean": self.cpu_mean,
            "window_min_events": self.window_min_events,
            "cpu_cal": self.cpu_cal.to_dict() if self.cpu_cal is not None else None,
            "cpu_cusum": self.cpu_cusum.to_state() if self.cpu_cusum is not None else None,
            "cpu_level": self.cpu_level,
            "warmup": self.warmup,
            "cpu_excess_cusum": None if self.cpu_excess_cusum is None else self.cpu_excess_cusum.to_state(),
            "routine_programs": sorted(self.ledger.baseline_programs if self.ledger is not None else ()),
        }

    def from_state(self, state: dict[str, Any]) -> None:
        total = _counts(state["total"], "total")
        # a baseline file learnt on the split shape is judged on it, whatever this sensor's setting
        self.split = bool(state.get("split", False))
        self.categories = list(SPLIT_CATEGORIES if self.split else CATEGORIES)
        if total.shape != (len(self.categories),):
            raise ValueError("L1 baseline state has the wrong number of categories")
        self.total = total
        self.usable_batches = int(state.get("usable_batches", 0))
        self.cal = Calibration.from_dict(state["cal"])
        # baseline files older than the size-aware thresholds have none: every size gets ``cal``
        quiet = state.get("quiet")
        # older baseline files have no quiet reference: every batch is judged against the baseline
        self.quiet = _counts(quiet, "quiet") if quiet else np.zeros_like(total)
        if self.quiet.shape != total.shape:
            raise ValueError("L1 baseline state has the wrong number of quiet categories")
        self.size_cals = [
            (int(n), Calibration.from_dict(c))
            for n, c in state.get("size_cals") or []
            if self.settings.size_aware
        ]
        cu = state.get("cusum")
        self.cusum = Cusum.from_state(cu) if cu and self.settings.window else None
        # older baseline files have no CPU model: that judge stays off for them
        self.cpu_mean = _level(state.get("cpu_mean", 0.0), "cpu_mean")
        self.window_min_events = _level(state.get("window_min_events", 0.0), "window_min_events")
        cc = state.get("cpu_cal")
        self.cpu_cal = Calibration.from_dict(cc) if cc and self.settings.cpu else None
        ccu = state.get("cpu_cusum")
        self.cpu_cusum = Cusum.from_state(ccu) if ccu and self.cpu_cal and self.settings.window else None
        # baseline files older than the CPU-excess window have none: it stays off for them
        self.cpu_level = _level(state.get("cpu_level", 0.0), "cpu_level")
        self.warmup = int(state.get("warmup", 0))
        ecu = state.get("cpu_excess_cusum")
        on = self.settings.cpu and self.settings.window and self.settings.cpu_excess > 0
        self.cpu_excess_cusum = Cusum.from_state(ecu) if ecu and on else None
        # older baseline files name no routine programs: every run after the baseline is a tool run
        self._loaded_programs = {str(p) for p in state.get("routine_programs") or []}
        if self.ledger is not None:
            self.ledger.baseline_programs |= self._loaded_programs
        override = self.config.threshold_override("L1", "DRIFT_DETECTED")
        if override is not None:
            self.cal = Calibration(override, "override")
            self.size_cals = []
            self.quiet = np.zeros_like(self.total)
        self._jsd_cal = self.cal
        self.baselined = True
        if self.ledger is not None:
            self.ledger.arm()


def _level(value: Any, what: str) -> float:
    """A non-negative finite number from a baseline file.

    A NaN or infinity read back from a damaged or hand-edited file would not fail at load
    time: it would poison every later comparison (NaN is never over a threshold, so the
    channel would go silent) or crash the status report, so it is refused here, where the
    operator gets one clear line naming the field.
    """
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"L1 baseline state has an invalid {what}: {value!r}")
    return v


def _counts(values: Any, what: str) -> np.ndarray:
    """Per-category event counts from a baseline file: finite and non-negative (see ``_level``)."""
    return np.array([_level(x, what) for x in values])


def unmistakable(value: float, cal: Calibration, excess: float) -> bool:
    """One batch so far over the threshold that it needs no second one.

    Its excess over the baseline's typical (median) score is ``excess`` times
    the threshold's: the same bar the long window sets for a single batch
    (h is at least twice the threshold's excess over its reference), but not
    subject to the window having enough baseline batches to calibrate.  A
    miner's first batch in a quiet agent clears it; a benign batch just over
    the threshold does not.
    """
    if excess <= 0:
        return True
    return value - cal.sample_median >= excess * (cal.threshold - cal.sample_median)


def warmup_batches(x: np.ndarray) -> int:
    """How many leading baseline batches are a start-up transient, by MSER (White, 1997).

    An agent attached as it starts spends its first seconds importing, JIT-
    compiling and answering its first requests: CPU it will not spend again.
    Left in, that burst raises the CPU windows' references -- the ratio
    window's mean, the excess window's mean and spread, and the bootstrap h
    that resamples it as if it recurred -- until a miner of a few tenths of
    a core never counts (dev: +0.8 CPU-s/s in the first 6 of 30 batches hid
    a 12-s miner of +0.3 CPU-s/s in every development journal).  MSER is the
    standard rule for initialisation bias in simulation output: cut the
    leading d batches that minimise the standard error of the rest's mean,
    sum((x[d:] - mean)^2) / (n - d)^2, for d at most half the batches.  No
    threshold to choose.  With 30 batches MSER also cuts an ordinary early
    burst (noise), so the cut is kept only when the cut batches' mean lies
    above every later baseline batch: a level the agent never came back to
    is a transient; a burst whose size recurs later is the agent's ordinary
    behaviour and stays in (the bootstrap must see it).
    """
    n = int(x.size)
    if n < 4:
        return 0
    best, best_d = float("inf"), 0
    for d in range(0, n // 2 + 1):
        rest = x[d:]
        m = float(rest.mean())
        v = float(np.sum((rest - m) ** 2)) / float(rest.size) ** 2
        if v < best * (1.0 - 1e-12):
            best, best_d = v, d
    # a transient, not a burst that recurs: the cut part is busier on average than any later
    # baseline batch (else the baseline's later bursts say that level is ordinary for this agent)
    if best_d == 0 or float(x[:best_d].mean()) <= float(x[best_d:].max()):
        return 0
    return best_d


def _tool_started(batch: Batch, ctx: ChannelContext) -> bool:
    """Whether a process of the agent other than its root exec'd in this batch (a tool run began)."""
    root = ctx.info.root_pid if ctx.info is not None else None
    return any(e.get("type") == "exec" and e.get("pid") != root for e in batch.events)


def _program(path: str) -> str:
    """A tool run's program as a fold-key part: its file name, printable, at most 64 characters."""
    name = path.rstrip("/").rsplit("/", 1)[-1] or path
    return "".join(c if c.isprintable() and not c.isspace() else "?" for c in name)[:64] or "?"


def _jsd_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``jsd_bits`` of each row of ``p`` against the same row of ``q`` (rows are distributions)."""
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kp = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
        kq = np.where(q > 0, q * np.log2(np.where(q > 0, q, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
    return np.maximum(0.0, 0.5 * kp.sum(axis=1) + 0.5 * kq.sum(axis=1))


def sustained(cpu: np.ndarray, k: int) -> np.ndarray:
    """Per batch, the least CPU time over it and the ``k - 1`` batches before it (time order)."""
    k = max(1, int(k))
    out = cpu.copy()
    for j in range(1, k):
        out[j:] = np.minimum(out[j:], cpu[:-j])
    return out


def _secs(batch: Batch) -> float:
    return max((batch.t1_ns - batch.t0_ns) / 1e9, 1e-3)


def _switches(stats: np.ndarray | None) -> np.ndarray:
    if stats is None:
        return np.zeros(2)
    return np.array([float(stats["switches_voluntary"]), float(stats["switches_involuntary"])])


def _share(sw: np.ndarray) -> float:
    """The involuntary share of [voluntary, involuntary] switches."""
    return round(float(sw[1] / sw.sum()), 4) if sw.sum() > 0 else 0.0


def _long_share(rq: np.ndarray | None) -> float | None:
    """The share of run-queue waits of ~1 ms or more (None: no run-queue split)."""
    if rq is None or rq.sum() <= 0:
        return None
    return round(float(rq[RQ_LONG_SLOT:].sum() / rq.sum()), 4)


SPEC = register(
    ChannelSpec(
        name="L1",
        summary="distribution of the agent's scheduling events against its baseline",
        codes=(AlertCode("DRIFT_DETECTED", "low", "Agent behaviour drifted from its baseline"),),
        settings=L1Settings,
        factory=SchedChannel,
    )
)
