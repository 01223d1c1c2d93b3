"""Alert folding: one certificate per new thing, storms collapsed, every fold counted.

Channels say what they see, as often as they see it: L4 reports every
connect to an unknown destination, L1 every batch that drifts.  An operator
needs something else: one alert when something new happens, and a bounded,
timely stream when very many things happen at once.  This module sits between
the channels and the certificate writer and does that, per agent, with two
rules:

* **Key folding.**  An alert's ``(channel, code, key)`` -- the key is the
  destination for L4, the binary for L2, ``sched`` for L1... -- is *in use*
  from its first alert for as long as it recurs within ``fold_idle`` of its
  previous occurrence.  Only the first occurrence becomes a certificate;
  repeats while it stays in use are folded and counted.  A key that comes
  back after being idle longer than ``fold_idle`` is reported again, and that
  certificate's ``suppressed`` field carries how many repeats were folded
  since the key's previous certificate.  So a benign agent that starts
  using one new site gives one signed alert, not one every 10 s forever.

* **Storm collapse.**  Per agent, at most ``storm_burst`` certificates go
  out individually per batch interval (the engine calls :meth:`AgentFolder.flush`
  at the end of every batch).  Alerts beyond that, on any channel, are held
  and collapse into ONE aggregated alert per channel at the end of the batch,
  carrying the number of alerts, the distinct keys, counts per code and a
  sample of keys.  With five channels an agent thus signs at most
  ``storm_burst + 5`` certificates per batch (10/s with the defaults), and no
  held alert waits longer than one batch interval (1 s) for its certificate.

Nothing is dropped silently: every folded repeat and every held alert is
counted, in the aggregate certificate (``evidence.storm``), in the next
certificate for the same key (``suppressed``), in the ``evidence.folding``
block every certificate carries (repeats this agent's channel folded since its
previous certificate), and in the engine status.  Memory is bounded by
``fold_max_keys`` keys per agent (least recently used keys are forgotten,
and counted as ``evicted``; a forgotten key that recurs is reported again).

Time is the alerts' kernel timestamps, so a replay folds exactly as the live
sensor did.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

from h7.alert import Alert

#: key of an aggregated (storm) alert, per channel
STORM_KEY_PREFIX = "storm:"


@dataclass
class _KeyState:
    """One ``(channel, code, key)`` an agent was alerted on."""

    last_seen_ns: int
    #: repeats folded since this key's last certificate
    folded: int = 0
    #: the storm generation this key's first alert was held in (-1: it was certified itself)
    held_gen: int = -1
    #: divergence / threshold of the verdict this key was last certified (or held) with
    ratio: float = 0.0


@dataclass
class _Aggregate:
    """The alerts one channel held during one batch: they become one certificate."""

    alerts: int = 0
    repeats: int = 0
    prior_folded: int = 0
    keys: list[str] = field(default_factory=list)
    by_code: collections.Counter[str] = field(default_factory=collections.Counter)
    first_ns: int = 0
    worst: Alert | None = None
    last_ns: int = 0


class AgentFolder:
    """Folding state of ONE agent (the engine keeps one per agent).

    ``idle_ns`` <= 0 turns key folding off (every alert is its own certificate
    unless a storm holds it); ``burst`` <= 0 turns storm collapse off.
    """

    def __init__(
        self,
        idle_ns: int,
        burst: int,
        sample: int = 10,
        max_keys: int = 16384,
        window_ns: int = 0,
        escalation: float = 0.0,
    ) -> None:
        self.idle_ns = int(idle_ns)
        #: a repeat this many times stronger (divergence / threshold) than the verdict its key was
        #: last certified with is a new episode, certified again (0: never)
        self.escalation = float(escalation)
        #: an aggregate also closes once a verdict arrives this long after its first (0: batch end only)
        self.window_ns = int(window_ns)
        self.burst = int(burst)
        self.sample = max(0, int(sample))
        self.max_keys = max(1, int(max_keys))
        self._keys: collections.OrderedDict[tuple[str, str, str], _KeyState] = collections.OrderedDict()
        self._held: dict[str, _Aggregate] = {}
        self._emitted_in_batch = 0
        self._gen = 0
        #: repeats folded per channel since that channel's last certificate
        self._channel_folded: collections.Counter[str] = collections.Counter()
        # lifetime counters (status)
        self.folded_total = 0
        self.held_total = 0
        self.folded_by_code: collections.Counter[str] = collections.Counter()
        self.held_by_code: collections.Counter[str] = collections.Counter()
        self.aggregates = 0
        self.evicted = 0
        self.certified = 0
        self.escalated = 0

    # -- immediate path -------------------------------------------------
    def admit(self, alert: Alert, idle_ns: int | None = None) -> list[Alert]:
        """The alerts to certify now for this channel verdict (zero or one, or two in a storm).

        ``idle_ns`` replaces ``fold_idle`` for this verdict: the engine passes a
        short gap for verdicts of the per-batch judges, whose keys (``sched``,
        ``structure``, ``egress``) name a whole channel's drift -- an episode
        ends when the drift stops, not when 10 minutes pass, so a second attack
        a minute later is not folded into the first.
        """
        k = (alert.channel, alert.code, alert.key)
        ks = self._keys.get(k)
        ts = int(alert.ts_ns)
        idle = self.idle_ns if idle_ns is None else int(idle_ns)
        ratio = float(alert.divergence) / max(float(alert.threshold), 1e-12)
        escalated = (
            ks is not None and self.escalation > 0 and ks.ratio > 0 and ratio >= self.escalation * ks.ratio
        )
        if ks is not None and idle > 0 and ts - ks.last_seen_ns < idle and not escalated:
            ks.last_seen_ns = max(ks.last_seen_ns, ts)
            self._keys.move_to_end(k)
            self.folded_total += 1
            self.folded_by_code[alert.code] += 1
            agg = self._held.get(alert.channel) if ks.held_gen == self._gen else None
            if agg is not None:
                agg.repeats += 1  # counted in the storm certificate it is held in
            else:
                ks.folded += 1
                self._channel_folded[alert.channel] += 1
            return []
        prior = ks.folded if ks is not None else 0
        if escalated:
            self.escalated += 1
        ks = _KeyState(ts, ratio=ratio)
        self._keys[k] = ks
        self._keys.move_to_end(k)
        while len(self._keys) > self.max_keys:
            # Its folded repeats are already in the channel's count for the next certificate.
            self._keys.popitem(last=False)
            self.evicted += 1
        if self.burst <= 0 or self._emitted_in_batch < self.burst:
            self._emitted_in_batch += 1
            alert.suppressed = prior
            self._stamp(alert)
            return [alert]
        # Storm: hold it for the channel's aggregate at the end of the batch -- or
        # now, if the channel's aggregate is already window_ns old (kernel time).
        out: list[Alert] = []
        agg = self._held.get(alert.channel)
        if agg is not None and self.window_ns > 0 and ts - agg.first_ns >= self.window_ns:
            out.append(self._aggregate(alert.channel, agg))
            del self._held[alert.channel]
            agg = None
            self._gen += 1  # later repeats of its keys count toward the next certificate
        ks.held_gen = self._gen
        self.held_total += 1
        self.held_by_code[alert.code] += 1
        if agg is None:
            agg = self._held[alert.channel] = _Aggregate(first_ns=ts)
        agg.alerts += 1
        agg.prior_folded += prior
        agg.by_code[alert.code] += 1
        if len(agg.keys) < self.sample:
            agg.keys.append(alert.key)
        if agg.worst is None or alert.divergence / max(alert.threshold, 1e-12) > agg.worst.divergence / max(
            agg.worst.threshold, 1e-12
        ):
            agg.worst = alert
        agg.last_ns = max(agg.last_ns, ts)
        return out

    def _stamp(self, alert: Alert) -> None:
        """Say in the certificate what this channel folded since its previous one."""
        self.certified += 1
        n = self._channel_folded.pop(alert.channel, 0)
        alert.evidence = {
            **alert.evidence,
            "folding": {
                "repeats_of_this_key_since_its_last_certificate": int(alert.suppressed),
                "channel_repeats_folded_since_last_certificate": int(n),
                "keys_in_use": len(self._keys),
            },
        }

    # -- end of batch ---------------------------------------------------
    def flush(self, now_ns: int) -> list[Alert]:
        """One aggregated alert per channel that held alerts this batch; opens a new batch."""
        out = [self._aggregate(channel, agg) for channel, agg in sorted(self._held.items())]
        self._held.clear()
        self._emitted_in_batch = 0
        self._gen += 1
        del now_ns  # batches are the clock; the argument documents when flush is due
        return out

    def _aggregate(self, channel: str, agg: _Aggregate) -> Alert:
        """The one certificate a channel's held verdicts become."""
        w = agg.worst
        assert w is not None
        code = agg.by_code.most_common(1)[0][0]
        evidence: dict[str, Any] = {
            "storm": {
                "alerts": agg.alerts,
                "distinct_keys": agg.alerts,
                "repeats_folded": agg.repeats,
                "earlier_repeats_of_these_keys": agg.prior_folded,
                "by_code": dict(sorted(agg.by_code.items())),
                "sample_keys": list(agg.keys),
                "window_ns": [agg.first_ns, max(agg.last_ns, agg.first_ns)],
                "individual_certificates_per_batch": self.burst,
            },
            "worst": {"code": w.code, "key": w.key, "evidence": w.evidence},
        }
        a = Alert(
            channel=channel,
            code=code,
            agent_id=w.agent_id,
            ts_ns=int(max(agg.last_ns, agg.first_ns)),
            divergence=float(w.divergence),
            threshold=float(w.threshold),
            key=STORM_KEY_PREFIX + channel,
            evidence=evidence,
            suppressed=agg.alerts - 1 + agg.repeats,
        )
        self.aggregates += 1
        self._stamp(a)
        return a

    def forget(self, channel: str, match: Any) -> int:
        """Drop in-use keys of ``channel`` for which ``match(key)`` is true (operator accept)."""
        gone = [k for k in self._keys if k[0] == channel and match(k[2])]
        for k in gone:
            del self._keys[k]
        return len(gone)

    def pending_channel_folds(self) -> dict[str, int]:
        """Repeats folded per channel since that channel's last certificate."""
        return dict(self._channel_folded)

    def status(self) -> dict[str, Any]:
        return {
            "keys_in_use": len(self._keys),
            "folded": self.folded_total,
            "held_in_storms": self.held_total,
            "folded_by_code": dict(self.folded_by_code),
            "held_by_code": dict(self.held_by_code),
            "storm_certificates": self.aggregates,
            "certified": self.certified,
            "evicted_keys": self.evicted,
            "escalated": self.escalated,
            "pending_channel_folds": dict(self._channel_folded),
        }
