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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from h7.alert import Alert
from h7.batch import Batch
from h7.config import EngineConfig
from h7.decode import HIST_SLOTS
from h7.detect.channels.base import Calibration, Channel, ChannelContext, calibrate_threshold, entropy_bits
from h7.detect.numeric import jsd_bits
from h7.detect.window import Cusum, calibrate_cusum
from h7.registry import AlertCode, ChannelSpec, register

COUNTERS = ("switches_voluntary", "switches_involuntary", "wakeups", "wakeups_new", "migrations")
CATEGORIES = (
    [f"oncpu_2^{i}ns" for i in range(HIST_SLOTS)]
    + [f"offcpu_2^{i}ns" for i in range(HIST_SLOTS)]
    + list(COUNTERS)
)
L1_FLOOR = 0.05  # bits of JSD


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


def sched_vector(stats: np.ndarray | None) -> np.ndarray:
    """One batch's scheduling events as counts over CATEGORIES."""
    if stats is None:
        return np.zeros(len(CATEGORIES))
    return np.concatenate(
        [
            np.asarray(stats["oncpu_hist"], dtype=np.float64),
            np.asarray(stats["offcpu_hist"], dtype=np.float64),
            np.array([float(stats[c]) for c in COUNTERS]),
        ]
    )


class SchedChannel(Channel):
    name = "L1"

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        self.settings = config.settings(L1Settings)
        self._rows: list[np.ndarray] = []
        self.total = np.zeros(len(CATEGORIES))
        self.usable_batches = 0
        self.cal = Calibration(L1_FLOOR, "uncalibrated")
        self.last: dict[str, Any] = {"divergence": 0.0}
        #: the long-window judge: CUSUM of the per-batch divergence (h7.detect.window)
        self.cusum: Cusum | None = None

    def _smoothed(self, counts: np.ndarray, ref: np.ndarray) -> np.ndarray:
        a = self.settings.pseudocount
        return (counts + a * ref) / (counts.sum() + a)

    def learn(self, batch: Batch, ctx: ChannelContext) -> None:
        v = sched_vector(batch.stats.get(ctx.agent))
        self._rows.append(v)
        self.total += v

    def finish_baseline(self, ctx: ChannelContext) -> None:
        super().finish_baseline(ctx)
        minev = self.settings.min_events
        rows = np.vstack(self._rows) if self._rows else np.zeros((0, len(CATEGORIES)))
        usable = rows[rows.sum(axis=1) >= minev]
        self.usable_batches = int(usable.shape[0])
        samples: list[float] = []
        if usable.shape[0] >= 2:
            for c in usable:
                rest = self.total - c
                if rest.sum() <= 0:
                    continue
                q = rest / rest.sum()
                samples.append(jsd_bits(self._smoothed(c, q), q))
        self.cal = calibrate_threshold(
            samples,
            floor=self.config.floor("L1", "DRIFT_DETECTED", L1_FLOOR),
            budget=self.config.false_alarm_budget,
            override=self.config.threshold_override("L1", "DRIFT_DETECTED"),
        )
        self.cusum = self._calibrate_window(samples) if self.settings.window else None
        self._rows = []

    def _calibrate_window(self, samples: list[float]) -> Cusum:
        return calibrate_cusum(
            samples,
            budget=self.config.false_alarm_budget,
            ref_sigmas=self.config.window_ref_sigmas,
            min_sigma=self.settings.window_min_sigma,
            single_cap=self.cal.threshold,
            override=self.settings.window_h,
        )

    def judge(self, batch: Batch, ctx: ChannelContext) -> list[Alert]:
        c = sched_vector(batch.stats.get(ctx.agent))
        n = float(c.sum())
        tot = self.total.sum()
        if n < self.settings.min_events or tot <= 0:
            self.last = {"divergence": 0.0, "events": n, "judged": False}
            return []
        q = self.total / tot
        p = self._smoothed(c, q)
        d = jsd_bits(p, q)
        h_batch, h_base = entropy_bits(p), entropy_bits(q)
        self.last = {"divergence": d, "events": n, "judged": True, "entropy_batch": h_batch}
        # The long window sees what single batches cannot; a batch the per-batch judge
        # reports is reported once, by it (both use key "sched", so repeats fold).
        window = self.cusum is not None and self.cusum.update(d)
        if not d > self.cal.threshold:
            if window:
                assert self.cusum is not None
                alert = self._window_alert(batch, ctx, p, q, c)
                self.cusum.reset()
                return [alert]
            return []
        if self.cusum is not None:
            self.cusum.reset()
        diff = p - q
        top = np.argsort(-np.abs(diff))[:6]
        raw = c / n
        evidence = {
            "jsd_bits": round(d, 5),
            "entropy_batch_bits": round(h_batch, 4),
            "entropy_baseline_bits": round(h_base, 4),
            "events": int(n),
            "window_ns": [int(batch.t0_ns), int(batch.t1_ns)],
            "shifted": [
                {"kind": CATEGORIES[i], "batch": round(float(raw[i]), 4), "baseline": round(float(q[i]), 4)}
                for i in top
            ],
            "involuntary_share": {
                "batch": _share(c, "switches_involuntary"),
                "baseline": _share(self.total, "switches_involuntary"),
            },
        }
        return [
            ctx.alert(
                "L1",
                "DRIFT_DETECTED",
                int(batch.t1_ns),
                d,
                self.cal.threshold,
                key="sched",
                evidence=evidence,
            ),
        ]

    def _window_alert(
        self, batch: Batch, ctx: ChannelContext, p: np.ndarray, q: np.ndarray, c: np.ndarray
    ) -> Alert:
        """A sustained shift: the CUSUM of per-batch divergence passed its calibrated h."""
        assert self.cusum is not None
        cu = self.cusum
        top = np.argsort(-np.abs(p - q))[:6]
        n = float(c.sum())
        raw = c / n if n else c
        evidence = {
            "window": "cusum",
            "cusum": round(cu.s, 5),
            "h": round(cu.h, 5),
            "reference_jsd_bits": round(cu.ref, 5),
            "batches_accumulating": cu.run,
            "jsd_bits_this_batch": round(float(self.last.get("divergence", 0.0)), 5),
            "per_batch_threshold": self.cal.threshold,
            "window_ns": [int(batch.t1_ns) - cu.run * self.config.batch_ns, int(batch.t1_ns)],
            "shifted": [
                {"kind": CATEGORIES[i], "batch": round(float(raw[i]), 4), "baseline": round(float(q[i]), 4)}
                for i in top
            ],
            "involuntary_share": {
                "batch": _share(c, "switches_involuntary"),
                "baseline": _share(self.total, "switches_involuntary"),
            },
        }
        # divergence/threshold of a window alert: the CUSUM against its h
        return ctx.alert("L1", "DRIFT_DETECTED", int(batch.t1_ns), cu.s, cu.h, key="sched", evidence=evidence)

    def status(self) -> dict[str, Any]:
        return {
            "state": "monitoring" if self.baselined else "learning",
            "divergence": float(self.last.get("divergence", 0.0)),
            "threshold": self.cal.threshold,
            "calibration": self.cal.to_dict(),
            "window": self.cusum.status() if self.cusum is not None else None,
            "baseline_events": int(self.total.sum()),
            "baseline_entropy_bits": entropy_bits(self.total / self.total.sum()) if self.total.sum() else 0.0,
            "last": self.last,
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "total": [float(x) for x in self.total],
            "usable_batches": self.usable_batches,
            "cal": self.cal.to_dict(),
            "cusum": self.cusum.to_state() if self.cusum is not None else None,
        }

    def from_state(self, state: dict[str, Any]) -> None:
        total = np.array([float(x) for x in state["total"]])
        if total.shape != (len(CATEGORIES),):
            raise ValueError("L1 baseline state has the wrong number of categories")
        self.total = total
        self.usable_batches = int(state.get("usable_batches", 0))
        self.cal = Calibration.from_dict(state["cal"])
        cu = state.get("cusum")
        self.cusum = Cusum.from_state(cu) if cu and self.settings.window else None
        override = self.config.threshold_override("L1", "DRIFT_DETECTED")
        if override is not None:
            self.cal = Calibration(override, "override")
        self.baselined = True


def _share(v: np.ndarray, counter: str) -> float:
    sw = v[CATEGORIES.index("switches_voluntary")] + v[CATEGORIES.index("switches_involuntary")]
    return round(float(v[CATEGORIES.index(counter)] / sw), 4) if sw > 0 else 0.0


SPEC = register(
    ChannelSpec(
        name="L1",
        summary="distribution of the agent's scheduling events against its baseline",
        codes=(AlertCode("DRIFT_DETECTED", "low", "Agent behaviour drifted from its baseline"),),
        settings=L1Settings,
        factory=SchedChannel,
    )
)
