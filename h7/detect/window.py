"""Sequential change detection over minutes: a one-sided CUSUM calibrated on the baseline.

L1 and L4 judge every 1-s batch on its own.  A change that is small per
batch but never stops -- a miner thread at a 10 % duty cycle, egress that
doubles and stays doubled -- stays under a per-batch threshold forever,
because that threshold must sit above the benign batch-to-batch noise.
Accumulating the evidence fixes that: Page's CUSUM

    S_t = max(0, S_{t-1} + x_t - r)

adds up how far each batch's score ``x_t`` lies above a reference ``r`` and
alerts when the sum passes ``h``.  Benign batches pull S back to 0; a
sustained shift of d per batch above r reaches h after about h / d batches,
however small d is compared to the per-batch noise.

Calibration uses the baseline only (never a test that reports the result):

* ``x`` samples are the baseline batches' own scores, each against the rest
  of the baseline (the channel already computes them for its per-batch
  threshold).
* ``r`` = max(median, mean) + ``ref_sigmas`` standard deviations of the
  samples (the larger of MAD-based and plain): a batch must be clearly
  above the typical baseline batch to add anything, and baseline-like batches
  pull S down on average, so a benign agent whose load moves within the range
  its baseline saw keeps S near 0.
* ``h`` is read off a simulation: many long sequences drawn with replacement
  from the baseline samples are run through the CUSUM, and ``h`` is the
  value S exceeds in a fraction ``budget`` of simulated batches (the same
  per-batch false-alarm budget as the per-batch thresholds), times a
  headroom; and at least twice the per-batch threshold's excess over ``r``,
  so one or two odd batches can never alert on their own (that is the
  per-batch threshold's job, and its extrapolated tail knows better than 30
  samples how far a benign batch can reach).

Cost: one float per batch and a few arithmetic operations; calibration is a
vectorised simulation of ``runs x steps`` CUSUM steps (~5 ms), once per
agent at the end of its baseline, off the live sensor's batch path
(Channel.finish_baseline_deferred).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: simulated sequences x their length, for h (2e5 simulated batches resolve a 1e-3 budget)
SIM_RUNS = 400
SIM_STEPS = 500


@dataclass
class Cusum:
    """A calibrated one-sided CUSUM (see the module docstring)."""

    ref: float
    h: float
    method: str = "calibrated"
    n: int = 0
    s: float = 0.0
    #: batches since S last left 0 (how long the evidence has been building)
    run: int = 0
    peak: float = 0.0
    #: a batch's score counts at most this much (None: unclipped); see ``calibrate_cusum``
    clip: float | None = None

    def update(self, x: float) -> bool:
        """Add one batch's score; True when S passes h (S restarts from 0 after an alarm)."""
        x = float(x)
        if not math.isfinite(x):
            return False
        if self.clip is not None:
            x = min(x, self.clip)
        self.s = max(0.0, self.s + x - self.ref)
        self.run = self.run + 1 if self.s > 0 else 0
        self.peak = max(self.peak, self.s)
        # "passes h": by more than rounding.  With a clipped input, k batches at the clip add
        # exactly k x (clip - ref), and h is set to cap_batches of those (calibrate_cusum):
        # whether that many batches alerted was float rounding (3 x 0.954... > 2.862...: in
        # ~30 % of (ref, h) pairs; eval's 4364f0a mcp soak landed 2e-7 under h)
        return self.s > self.h * (1.0 + 1e-9)

    def reset(self) -> None:
        self.s = 0.0
        self.run = 0

    def status(self) -> dict[str, Any]:
        """For the status file, which is strict JSON: an infinite h/ref ("never") is null."""
        return {
            "cusum": round(self.s, 6),
            "h": self.h if np.isfinite(self.h) else None,
            "ref": self.ref if np.isfinite(self.ref) else None,
            "method": self.method,
            "n": self.n,
            "run_batches": self.run,
            "peak": round(self.peak, 6),
            "clip": self.clip if self.clip is None or np.isfinite(self.clip) else None,
        }

    def to_state(self) -> dict[str, Any]:
        return {"ref": self.ref, "h": self.h, "method": self.method, "n": self.n, "clip": self.clip}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Cusum:
        clip = d.get("clip")
        return cls(
            ref=float(d["ref"]),
            h=float(d["h"]),
            method=str(d.get("method", "")),
            n=int(d.get("n", 0)),
            clip=float(clip) if clip is not None else None,
        )


@functools.lru_cache(maxsize=4)
def _draw_indices(n: int, seed: int) -> np.ndarray:
    """The simulation's random picks among ``n`` samples: ``Generator.choice``'s own integers.

    Every calibration with the same number of samples and seed draws the
    same picks (``choice`` with replacement is ``integers(0, n)``), and an
    agent's five CUSUMs all have one sample per baseline batch: drawn once,
    kept as uint8/uint16 where they fit (200/400 KB; int64 would be 1.6 MB each).
    """
    idx = np.random.default_rng(seed).integers(0, n, size=(SIM_STEPS, SIM_RUNS), dtype=np.int64)
    idx = idx.astype(np.uint8 if n <= 256 else np.uint16 if n <= 65536 else np.int64)
    idx.setflags(write=False)
    return idx


def simulated_quantile(steps: np.ndarray, budget: float, seed: int = 0) -> float:
    """The value S passes in a fraction ``budget`` of simulated batches (``calibrate_cusum``'s h).

    SIM_RUNS sequences of SIM_STEPS draws (with replacement) of ``steps``
    (each sample minus the reference), run through S = max(0, S + step); the
    ``1 - budget`` quantile of every S seen.  The picks are exactly those of
    ``Generator.choice`` and are drawn once per sample count
    (``_draw_indices``), and S is written in place: the same figure as the
    plain loop it replaces (``bench.window_bench.plain_simulated_quantile``;
    tests/test_l1_small_batches.py checks equality), at about half its CPU.
    It runs at the end of every baseline, five times per agent, each a step
    of the deferred calibration the live sensor runs in its idle time
    (h7.detect.engine.Engine.calibrate_step; make bench, window section,
    ``window_simulate_ms``, ``calibrate_step_max_ms``).
    """
    draws = steps[_draw_indices(int(steps.size), seed)]
    seen = np.empty((SIM_STEPS, SIM_RUNS))
    prev = np.zeros(SIM_RUNS)
    for t in range(SIM_STEPS):
        row = seen[t]
        np.add(prev, draws[t], out=row)
        np.maximum(row, 0.0, out=row)
        prev = row
    return _upper_quantile(seen.ravel(), 1.0 - budget)


def _upper_quantile(flat: np.ndarray, q: float) -> float:
    """``np.quantile(flat, q)`` (linear rule), exactly, from the values near the top only.

    A quantile near 1 needs the two order statistics around position
    (N - 1) q.  A lower bound L for them comes from every 16th value; when
    at least the needed count of values is >= L (else: ``np.quantile``), the
    two are the same ranks from the top among those few hundred values, and
    the full 2e5-value partition (2-3 ms here, most of the simulation's
    cost on its tie-heavy zeros) is skipped.
    """
    n = flat.size
    pos = (n - 1) * q
    k = math.floor(pos)
    frac = pos - k
    m = n - k  # the k-th smallest is the m-th largest
    if m > 4096 or n < 1024:
        return float(np.quantile(flat, q))
    sub = flat[::16]
    # the subsample's rank a few times the needed count from its top: below the sought values
    r = max(0, sub.size - 4 * (m // 16 + 8))
    bound = float(np.partition(sub, r)[r])
    top = flat[flat >= bound]
    if top.size < m or top.size > 64 * m + 4096:  # no bound below, or ties at it: the plain way
        return float(np.quantile(flat, q))
    top.sort()
    a = float(top[top.size - m])
    b = float(top[top.size - m + 1]) if m >= 2 else a
    # numpy's linear interpolation (its _lerp): from the lower neighbour below t = 0.5
    return a + (b - a) * frac if frac < 0.5 else b - (b - a) * (1.0 - frac)


def calibrate_cusum(
    samples: np.ndarray | list[float],
    *,
    budget: float,
    ref_sigmas: float = 1.0,
    min_sigma: float = 0.0,
    single_cap: float | None = None,
    cap_batches: float = 2.0,
    headroom: float = 1.25,
    seed: int = 0,
    override: float | None = None,
    clip_at_cap: bool = False,
    min_ref: float | None = None,
) -> Cusum:
    """A CUSUM whose per-batch false-alarm rate on the baseline's own scores is ``budget``.

    ``single_cap``: the channel's per-batch threshold.  h is at least
    ``cap_batches`` times its excess over the reference, so no single batch
    the per-batch judge lets pass -- nor two such in a row -- alerts here:
    30 baseline batches under-sample the benign tail (monitoring batches
    reach past the baseline's largest), which the per-batch threshold's
    extrapolated tail already accounts for.

    ``clip_at_cap``: a batch's score counts at most as much as ``single_cap``
    (the score is winsorised there), so no single batch -- however far out --
    moves S by more than one batch at the per-batch threshold, and S passes h
    only after more than ``cap_batches`` such batches.  For scores whose
    benign tail is heavy and whose attack is sustained by nature (CPU time:
    agents burst for a second, a miner burns for many), this makes the
    window a judge of persistence, not of one batch's size.

    ``min_ref``: the least reference.  Page's CUSUM is tuned to a shift:
    the reference halfway between the in-control level and the smallest
    out-of-control level worth detecting.  When the baseline is mostly idle
    the calibrated reference sits far below that, and ordinary variation
    of a benign agent's load over minutes accumulates.
    """
    x = np.asarray(samples, dtype=np.float64)
    x = x[np.isfinite(x)]
    if override is not None and x.size:
        med = float(np.median(x))
        return Cusum(ref=max(med, float(x.mean())) + ref_sigmas * float(x.std()), h=float(override),
                     method="override", n=int(x.size))  # fmt: skip
    if x.size < 5:
        # Not enough baseline batches to say what "above normal" is: never alert.
        return Cusum(ref=float("inf"), h=float("inf"), method="too-few-samples", n=int(x.size))
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med))) * 1.4826
    # The larger of the MAD and the std: the std counts the few busy batches a 30-s
    # baseline catches of an agent whose load wanders over minutes (the MAD ignores
    # them), and a discrete score (a few connects per batch) often has MAD 0.
    sigma = max(mad, float(x.std()), float(min_sigma))
    # Above the mean as well as the median: the CUSUM must drift down on baseline-like
    # batches, and a skewed score (most batches quiet, a few busy) has mean > median.
    ref = max(med, float(x.mean())) + ref_sigmas * sigma
    if min_ref is not None:
        ref = max(ref, float(min_ref))
    xs = np.minimum(x, float(single_cap)) if clip_at_cap and single_cap is not None else x
    q = simulated_quantile(xs - ref, budget, seed)
    cap = max(float(single_cap) - ref, 0.0) * cap_batches if single_cap is not None else 0.0
    h = max(q * headroom, cap, sigma)
    if h <= 0:
        h = float("inf")  # a baseline with no spread at all gives no scale to alert on
    clip = float(single_cap) if clip_at_cap and single_cap is not None else None
    return Cusum(ref=ref, h=h, method="calibrated", n=int(x.size), clip=clip)
