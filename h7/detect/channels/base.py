"""The one interface every detection channel implements, and what they share.

A channel instance models ONE agent.  The engine keeps one instance per
channel per agent, routes each agent's share of the activity to it, and owns
everything that is not about modelling behaviour: the baseline clock, rate
limiting, the syscall trace attached to alerts, and delivery.  So a channel
is small: learn during the baseline, calibrate, then judge.

Two paths, because two latencies matter:

* ``on_events`` is called as soon as the sensor drains discrete events from
  the kernel (exec, net, ptrace...).  L2, L4 (unknown destination) and L5
  answer here, within milliseconds of the act.
* ``judge`` is called once per batch with everything the batch holds.
  Distributional channels (L1, L3, L4 burst) need a whole window to say
  anything and answer here.
"""

from __future__ import annotations

import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from h7.alert import Alert
from h7.batch import AgentInfo, Batch, Event
from h7.config import EngineConfig
from h7.detect.numeric import gammaincinv_int

PHASE_BASELINE = "baseline"
PHASE_MONITORING = "monitoring"


class ProcReader:
    """Best-effort reads of /proc for the live sensor; inert in replay.

    In a replay the pids in the journal belong to another time (often another
    host): reading /proc/<pid> would describe an unrelated process, so the
    engine constructs this with ``enabled=False`` and every read says "unknown".
    """

    def __init__(self, enabled: bool = True, root: str = "/proc") -> None:
        self.enabled = enabled
        self.root = root
        #: pid -> CLOCK_MONOTONIC s when this sensor last opened its /proc/<pid>/maps (bounded):
        #: the kernel reports that open like anyone's, and L5 must not certify the sensor itself
        self.own_maps_reads: dict[int, float] = {}

    def exec_mapping(self, pid: int, dev: int, ino: int) -> bool | None:
        """Whether ``pid`` maps inode (dev, ino) executable now; None if its maps cannot be read."""
        if not self.enabled or pid <= 0:
            return None
        self.own_maps_reads.pop(pid, None)
        if len(self.own_maps_reads) >= 1024:
            self.own_maps_reads.pop(next(iter(self.own_maps_reads)))
        self.own_maps_reads[pid] = time.monotonic()
        try:
            with open(f"{self.root}/{pid}/maps", encoding="utf-8", errors="surrogateescape") as f:
                for n, line in enumerate(f):
                    if n > 65536:
                        break
                    parts = line.split(None, 5)
                    if len(parts) < 5 or len(parts[1]) < 3 or parts[1][2] != "x" or parts[4] != str(ino):
                        continue
                    major, _, minor = parts[3].partition(":")
                    try:
                        if os.makedev(int(major, 16), int(minor, 16)) == dev:
                            return True
                    except ValueError:
                        continue
        except OSError:
            return None
        return False

    def read_own_maps(self, pid: int, within_s: float = 10.0) -> bool:
        """Did this sensor open ``pid``'s maps in the last ``within_s`` seconds (``exec_mapping``)?"""
        t = self.own_maps_reads.get(pid)
        return t is not None and time.monotonic() - t <= within_s

    def exe(self, pid: int) -> str | None:
        if not self.enabled or pid <= 0:
            return None
        try:
            return os.readlink(f"{self.root}/{pid}/exe")
        except OSError:
            return None

    def cwd(self, pid: int) -> str | None:
        """The working directory of ``pid`` now (None: unknown, gone, or deleted)."""
        if not self.enabled or pid <= 0:
            return None
        try:
            d = os.readlink(f"{self.root}/{pid}/cwd")
        except OSError:
            return None
        return d if d.startswith("/") and not d.endswith(" (deleted)") else None

    def descends_from(self, pid: int, root_pid: int) -> bool | None:
        """Whether ``pid`` is ``root_pid`` or below it (by parent pid); None when /proc cannot say."""
        if not self.enabled or pid <= 0 or root_pid <= 0:
            return None
        cur = pid
        for _ in range(4096):  # bounded: pid chains are short, a cycle is impossible but not trusted
            if cur == root_pid:
                return True
            if cur <= 1:
                return False
            try:
                with open(f"{self.root}/{cur}/stat", "rb") as f:
                    raw = f.read(4096)
                cur = int(raw[raw.rindex(b")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                return None  # exited meanwhile: unknown, not "outside"
        return None

    def cmdline(self, pid: int, max_bytes: int = 65536) -> list[str] | None:
        """The whole argv of ``pid`` (``/proc/<pid>/cmdline``); None if unknown (replay, gone, empty)."""
        if not self.enabled or pid <= 0:
            return None
        try:
            with open(f"{self.root}/{pid}/cmdline", "rb") as f:
                raw = f.read(max_bytes)
        except OSError:
            return None
        if not raw:
            return None  # a zombie, or a kernel thread
        return [w.decode("utf-8", "surrogateescape") for w in raw.rstrip(b"\0").split(b"\0")]

    def task(self, tid: int) -> dict[str, Any] | None:
        """``tid``'s process as /proc/<tid>/status names it now: pid (its tgid), comm, uid.

        For a task the kernel names only by tid (L5: an agent's act on a process outside
        every agent, where sys_enter has no task to read the tgid from).  None in a replay
        or when it is gone.
        """
        if not self.enabled or tid <= 0:
            return None
        out: dict[str, Any] = {}
        try:
            with open(f"{self.root}/{tid}/status", "rb") as f:
                for line in f.read(4096).decode("utf-8", "surrogateescape").splitlines():
                    key, _, val = line.partition(":")
                    if key == "Name":
                        out["comm"] = val.strip()
                    elif key == "Tgid":
                        out["pid"] = int(val)
                    elif key == "Uid":
                        out["uid"] = int(val.split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return out if "pid" in out else None

    def exe_file(self, pid: int) -> str | None:
        """Path through which the executed image can be opened even if renamed or unlinked."""
        if not self.enabled or pid <= 0:
            return None
        p = f"{self.root}/{pid}/exe"
        # lexists: the link itself, which procfs answers.  exists() stat'ed the file behind it,
        # on the detection thread, which an agent-served FUSE file held (red-team variant
        # g4_fuse_served_padded_dash, session 20); the looks at the file go through the observer.
        return p if os.path.lexists(p) else None


@dataclass
class ChannelContext:
    """Who is being judged and under which settings; built by the engine."""

    agent: int
    agent_id: str
    info: AgentInfo | None
    config: EngineConfig
    phase: str = PHASE_BASELINE
    proc: ProcReader = field(default_factory=ProcReader)

    def alert(
        self,
        channel: str,
        code: str,
        ts_ns: int,
        divergence: float,
        threshold: float,
        key: str,
        evidence: dict[str, Any],
    ) -> Alert:
        return Alert(
            channel=channel,
            code=code,
            agent_id=self.agent_id,
            ts_ns=int(ts_ns),
            divergence=float(divergence),
            threshold=float(threshold),
            key=key,
            evidence=evidence,
        )


class Channel(ABC):
    """Interface of a detection channel (one instance per agent).

    Lifecycle: ``learn`` for every baseline batch, ``finish_baseline`` once,
    then ``on_events``/``judge`` while monitoring.  ``on_events`` is also
    called during the baseline (with ``ctx.phase == "baseline"``) because the
    channels that do not depend on a learned model (L2, L5, an explicit L4
    allowlist) must not give an attacker a 30-second free pass.
    ``to_state``/``from_state`` carry the learned model and its calibrated
    thresholds, as msgpack-able plain data.
    """

    name: ClassVar[str]  # "L1".."L5"

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.baselined = False

    def learn(self, batch: Batch, ctx: ChannelContext) -> None:  # noqa: B027 - optional hook
        """Fold one baseline batch of this agent's activity into the model."""

    def finish_baseline(self, ctx: ChannelContext) -> None:
        """Freeze the model and calibrate thresholds from the baseline itself."""
        self.baselined = True

    def finish_baseline_deferred(self, ctx: ChannelContext) -> Iterator[None] | None:
        """:meth:`finish_baseline` with its costly part left as steps for later (None: nothing left).

        Why: calibrating a long window simulates 2e5 CUSUM steps (a few ms
        each, five per agent) and L1's size-aware thresholds subsample the
        baseline a dozen times: ~40 ms of CPU per agent when its baseline
        ends, which the live sensor would otherwise spend between two drains
        of the ring buffer, on the batch path (session 11, make bench
        ``l1_finish_baseline_ms``).  What is done here at once is whatever
        ``on_events`` and ``learnt_outside_allowlist`` rely on; each step of
        the returned iterator is a few ms, run by the engine in the sensor
        loop's idle time (:meth:`h7.detect.engine.Engine.calibrate_step`).
        The engine runs every step left before this channel's next ``judge``
        or ``to_state`` (a replay: before the first monitored batch): the
        same calibration, to the bit, whenever its steps ran.  The default has no
        costly part: the whole of ``finish_baseline``, now.
        """
        self.finish_baseline(ctx)
        return None

    def on_events(self, events: list[Event], ctx: ChannelContext) -> list[Alert]:
        """Immediate path: judge discrete events as soon as they are drained."""
        return []

    def judge(self, batch: Batch, ctx: ChannelContext) -> list[Alert]:
        """Per-batch path: judge one monitoring batch as a whole."""
        return []

    def sample_pids(self) -> set[int] | None:
        """Processes whose CPU the live engine should sample besides the agent's tree (L1).

        None: this channel needs no per-process sample (the engine reads /proc
        for an agent only when some channel asks, an empty set included).
        """
        return None

    def learnt_outside_allowlist(self, ctx: ChannelContext) -> list[dict[str, Any]]:
        """What this channel's baseline learnt that no operator rule allows (signed as BASELINE_LEARNT)."""
        return []

    def kernel_filter(self) -> np.ndarray | None:
        """Syscall window codes this channel no longer needs shipped (L3 only)."""
        return None

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """Divergence, threshold and state for the live view and status file."""

    @abstractmethod
    def to_state(self) -> dict[str, Any]:
        """The learned model as msgpack-able plain data."""

    @abstractmethod
    def from_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`to_state` produced (marks the channel baselined)."""


@dataclass
class Calibration:
    """How a threshold was obtained: kept in status and saved baselines."""

    threshold: float
    method: str  # "calibrated" | "floor" | "override" | "too-few-samples"
    n: int = 0
    sample_max: float = 0.0
    sample_median: float = 0.0
    tail: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "method": self.method,
            "n": self.n,
            "sample_max": self.sample_max,
            "sample_median": self.sample_median,
            "tail": self.tail,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        return cls(
            threshold=float(d["threshold"]),
            method=str(d["method"]),
            n=int(d.get("n", 0)),
            sample_max=float(d.get("sample_max", 0.0)),
            sample_median=float(d.get("sample_median", 0.0)),
            tail=float(d.get("tail", 0.0)),
        )


def calibrate_threshold(
    samples: np.ndarray | list[float],
    *,
    floor: float,
    budget: float,
    headroom: float = 1.25,
    override: float | None = None,
) -> Calibration:
    """Threshold from the divergences of baseline sub-windows against the rest.

    A 30-s baseline yields ~30 samples: far too few to read a 1e-3 quantile
    off directly, so the tail is extrapolated by peaks over threshold: the
    excesses of the samples over their median are modelled as exponential
    (the generalised Pareto with shape 0, the textbook tail for maxima of
    light-tailed scores), whose ``1 - budget`` quantile is
    ``median + mean_excess * ln(P(exceed median) / budget)``.  Divergence
    samples are zero-inflated (idle sub-windows) and skewed (the one window
    where the agent did something for the first time); an exponential
    excess model is robust to both, where a fitted normal or log-normal is
    not.  The mean excess is taken at its upper 75 % confidence bound, so few
    samples mean a wider margin.  The threshold is the largest of that tail, the largest sample
    times ``headroom`` (never below what the baseline itself produced), and
    the floor (the least divergence worth an operator's attention, so a
    perfectly regular agent does not alert on noise).  A noisy agent's
    excesses are large and its threshold rises; a quiet agent's stays low.
    """
    if override is not None:
        return Calibration(float(override), "override")
    x = np.asarray(samples, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 3:
        return Calibration(float(floor), "too-few-samples", n=int(x.size))
    u = float(np.median(x))
    exc = x[x > u] - u
    hi = float(x.max())
    if exc.size >= 2:
        p_u = exc.size / x.size
        # Upper 75 % confidence bound of the mean excess (k exceedances:
        # 2k*beta_hat/beta ~ chi2(2k)), so that a baseline with only a handful
        # of busy sub-windows -- a quiet agent -- gets a wider margin rather
        # than a threshold fitted to luck.  The chi2(2k) quantile is
        # 2 * gammaincinv(k, q), computed in h7.detect.numeric: importing SciPy
        # for it costs the sensor tens of MB of RSS and ~1 s of start-up.
        k = int(exc.size)
        beta = float(exc.mean()) * 2 * k / float(2.0 * gammaincinv_int(k, 0.25))
        tail = u + beta * math.log(max(p_u / budget, 1.0))
    else:
        tail = hi
    thr = max(floor, tail, hi * headroom)
    method = "floor" if thr == floor else "calibrated"
    return Calibration(
        threshold=float(thr),
        method=method,
        n=int(x.size),
        sample_max=hi,
        sample_median=u,
        tail=float(tail),
    )


def kfold_indices(n: int, k: int) -> list[np.ndarray]:
    """Interleaved folds, so every fold spans the whole baseline in time."""
    k = max(1, min(k, n))
    idx = np.arange(n)
    return [idx[i::k] for i in range(k)]


def entropy_bits(p: np.ndarray) -> float:
    """Shannon entropy (bits) of a probability vector; 0 log 0 = 0."""
    q = p[p > 0]
    return float(-(q * np.log2(q)).sum()) if q.size else 0.0
