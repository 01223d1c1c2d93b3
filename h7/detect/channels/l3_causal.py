"""L3 structural causality: the causal graph of the agent, and its syscall sequences.

The graph's nodes are process *images* (``exe:``), files (``file:``,
``dir:``) and endpoints (``net:``); its edges say how information or control
flowed between them:

* ``exec``  image that called execve -> new image, and ``load``  file -> image
  (so writing a file and then executing it is a path through the graph);
* ``read``  file -> image (open O_RDONLY/O_RDWR), ``write`` image -> file
  (O_WRONLY/O_RDWR), ``list`` dir -> image (O_DIRECTORY);
* ``connect``/``send`` image -> endpoint; ``ptrace`` image -> image.

Nodes are normalised so that pids, temp names and churning work files do not
make every batch novel: pids live only in a pid->image map; ``/proc/<pid>``
becomes ``/proc/*``; path components that look generated (hex, digits,
``tmpXXXXXX``) become ``*``; and outside system directories a file is
represented by its directory and extension (``/work/notes/*.md``), while
system and hidden paths keep their names (``/etc/shadow``, ``~/.ssh/id_rsa``)
because there the name is the meaning.

Divergence per batch = graph novelty + sequence novelty, each standardised
by its own baseline spread:

* graph: new edges + new nodes relative to the baseline graph, in units of
  the baseline's own 90th-percentile leave-one-out novelty (at least 4);
* sequences: the mean novelty (nats) of the batch's ``max(top_k,
  top_frac * n)`` most novel syscall windows under
  :class:`h7.detect.sequence.SequenceModel` with the ``seq_*`` settings of ``[detect.l3]``
  (chosen on five public corpora, docs/sequence-model.md), above the
  baseline's median, in units of its upper spread (q90 - q50).

The kernel computes every thread's window (its last six syscalls) itself.
After the baseline this channel names the windows it does not need to see
again -- those at most as novel as the ``[detect.l3] known_quantile`` of baseline
positions, ``tau`` -- and the sensor tells the kernel to stop shipping them
(:meth:`CausalChannel.kernel_filter`).  Every known window then counts as
novelty ``tau`` exactly, whether the kernel dropped it or shipped it (the
filter is off in a replay, or missed one): the score is a function of the
batch, not of where the filtering happened.  ``tau`` is far below the
alerting range, so clipping the common windows at ``tau`` changes only the
scores of quiet batches, and the calibration below clips the same way.

The threshold is calibrated on the baseline itself: each baseline batch's
graph novelty against the graph of all other batches (leave-one-out) and its
sequence novelty under a model fitted without it (interleaved k-fold).

``CAUSAL_CYCLE_DETECTED``: new edges (accumulated over the monitoring
period, since a loop can close minutes after it opened) that create a
strongly connected component through at least ``[detect.l3] min_cycle_images``
distinct images, which the baseline graph did not have.  One program reading
back its own files is a trivial loop every program has; a loop through two
programs is a feedback path -- e.g. the agent writes a file, runs a program
from it, and reads back what that program wrote.  When a cycle fires in a
batch, that batch's structural-drift score is reported in the cycle alert
rather than as a second alert about the same new edges.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from h7.alert import Alert
from h7.batch import Batch, Event
from h7.config import EngineConfig
from h7.decode import TOKEN_BITS, TOKEN_OTHER, WINDOW_LEN
from h7.detect.channels.base import Calibration, Channel, ChannelContext, calibrate_threshold, kfold_indices
from h7.detect.numeric import scc_labels
from h7.detect.sequence import SequenceModel, in_sorted
from h7.detect.syscalls import syscall_name
from h7.errors import UsageError
from h7.registry import AlertCode, ChannelSpec, register

Edge = tuple[str, str, str]  # (src, dst, kind)

O_ACCMODE = 0o3
O_WRONLY = 0o1
O_RDWR = 0o2
O_DIRECTORY = 0o200000
_SYSTEM_PREFIXES = (
    "/etc/", "/usr/", "/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/boot/", "/dev/", "/proc/",
    "/sys/", "/root/", "/var/lib/", "/var/run/", "/run/", "/opt/",
)  # fmt: skip
_PROC_PID = re.compile(r"^/proc/(\d+|self|thread-self)(?=/|$)")
_HEX = re.compile(r"^[0-9a-f]{8,}$", re.I)
_DIGITS = re.compile(r"\d+")
_EXT = re.compile(r"^\.[A-Za-z0-9_]{1,8}$")

G_SCALE_FLOOR = 4.0  # four new structural elements (edges + nodes) = one unit of graph novelty
S_SPREAD_FLOOR = 0.5  # nats
L3_FLOOR = 4.0  # units: a new program or a few new files is not "structural drift"
KFOLD = 5
CodeCounts = tuple[np.ndarray, np.ndarray]  # distinct window codes, how often each occurred


@dataclass
class L3Settings:
    """``[detect.l3]``."""

    #: a causal cycle must run through at least this many distinct program images
    min_cycle_images: int = 2
    #: baseline positions at most this novel (as a quantile) become "known" windows the
    #: kernel stops shipping after the baseline; 0 ships everything
    known_quantile: float = 0.99
    #: monitoring edges kept for cycle search (memory bound)
    max_edges: int = 200_000
    #: the sequence model: a batch scores the mean of its max(seq_top_k, ceil(seq_top_frac * n))
    #: most novel windows under an order-seq_order model, novelty "mix" or "last".  Defaults: the
    #: setting with the best worst-case margin over stide on five public corpora
    #: (docs/sequence-model.md); the old top-8 lost to stide by 0.21 AUC on ADFA-LD.
    seq_order: int = 4
    seq_novelty: str = "last"
    seq_top_k: int = 64
    seq_top_frac: float = 0.5
    #: "wb" Witten-Bell or "kn" Kneser-Ney (docs/sequence-model.md: no better leave-one-corpus-out)
    seq_smoothing: str = "wb"

    def __post_init__(self) -> None:
        if not 0.0 <= self.known_quantile < 1.0:
            raise UsageError("known_quantile must be in [0, 1)")
        try:
            self.sequence_model()
        except ValueError as e:
            raise UsageError(str(e)) from None

    def sequence_model(self) -> SequenceModel:
        """An unfitted model with these settings (the one place L3 builds its models)."""
        return SequenceModel(
            order=self.seq_order,
            top_k=self.seq_top_k,
            top_frac=self.seq_top_frac,
            novelty=self.seq_novelty,
            smoothing=self.seq_smoothing,
        )


def _component(c: str) -> str:
    if c.isdigit():
        return "#"
    if _HEX.match(c) or (c.startswith("tmp") and len(c) > 6):
        return "*"
    if (
        len(c) >= 8
        and c.isalnum()
        and sum(ch.isdigit() for ch in c) >= 2
        and sum(ch.isalpha() for ch in c) >= 2
    ):
        return "*"  # one generated token (a8f3kq1z), not a versioned name (python3.11)
    return _DIGITS.sub("#", c)


def normalise_dir(d: str) -> str:
    d = _PROC_PID.sub("/proc/*", d)
    parts = d.split("/")
    return "/".join(p if p in ("", "*", ".", "..") else _component(p) for p in parts)


def normalise_file(path: str) -> str:
    """File path -> graph node name (see module docstring)."""
    path = _PROC_PID.sub("/proc/*", path)
    d, base = os.path.split(path)
    nd = normalise_dir(d) if d else "."
    full = nd.rstrip("/") + "/"
    hidden = any(p.startswith(".") and p not in (".", "..") for p in d.split("/"))
    if full.startswith(_SYSTEM_PREFIXES) or hidden or base.startswith("."):
        return f"{full}{_component(base) if base else ''}"
    ext = os.path.splitext(base)[1]
    return f"{full}*{ext if _EXT.match(ext) else ''}"


def normalise_exe(path: str) -> str:
    """Executable image: normalised directory, exact name (the name is what runs)."""
    d, base = os.path.split(path)
    return f"exe:{normalise_dir(d) + '/' if d else ''}{base}"


class CausalGraphBuilder:
    """Turns events into normalised edges, tracking which image each pid runs."""

    def __init__(self, root_pid: int | None, root_exe: str | None, max_pids: int = 65536) -> None:
        self.images: dict[int, str] = {}
        self.max_pids = max_pids
        if root_pid and root_exe:
            self.images[root_pid] = normalise_exe(root_exe)

    def image(self, ev: Event) -> str:
        pid = int(ev.get("pid", 0))
        img = self.images.get(pid)
        if img is None:
            img = f"exe:?{ev.get('comm', '')}"
            self._remember(pid, img)
        return img

    def _remember(self, pid: int, img: str) -> None:
        if len(self.images) >= self.max_pids:
            self.images.pop(next(iter(self.images)))
        self.images[pid] = img

    def edges(self, events: list[Event]) -> list[Edge]:
        out: list[Edge] = []
        for ev in events:
            t = ev.get("type")
            if t == "fork":
                self._remember(int(ev.get("child", 0)), self.image(ev))
            elif t == "exec":
                before = self.image(ev)
                fn = str(ev.get("filename", ""))
                interp = str(ev.get("interp", "")) or fn
                exe_name = str(ev.get("exe_name", "")) or os.path.basename(interp)
                d = os.path.dirname(interp)
                new = normalise_exe(os.path.join(d, exe_name) if d else exe_name)
                out.append((before, new, "exec"))
                if fn:
                    out.append(("file:" + normalise_file(fn), new, "load"))
                self._remember(int(ev.get("pid", 0)), new)
            elif t == "open":
                img = self.image(ev)
                flags = int(ev.get("flags", 0))
                path = str(ev.get("path", ""))
                if flags & O_DIRECTORY:
                    out.append(("dir:" + normalise_dir(path.rstrip("/") or "/"), img, "list"))
                    continue
                node = "file:" + normalise_file(path)
                acc = flags & O_ACCMODE
                if acc in (0, O_RDWR):
                    out.append((node, img, "read"))
                if acc in (O_WRONLY, O_RDWR):
                    out.append((img, node, "write"))
            elif t == "net":
                fam = ev.get("family", "")
                dest = (
                    f"net:{fam}:{ev.get('addr', '')}:{ev.get('port', 0)}"
                    if fam in ("inet", "inet6")
                    else f"net:{fam}"
                )
                out.append((self.image(ev), dest, "connect" if ev.get("op") == "connect" else "send"))
            elif t == "ptrace":
                out.append((self.image(ev), f"pid-of-agent:{ev.get('target_agent', 0)}", "ptrace"))
            elif t == "exit" and int(ev.get("pid", 0)) == int(ev.get("tid", -1)):
                self.images.pop(int(ev.get("pid", 0)), None)
        return out


def code_counts(windows: np.ndarray) -> CodeCounts:
    """Distinct window codes of a batch and their multiplicities.

    A busy agent repeats a few thousand windows millions of times, so this
    is what the baseline keeps per batch, not the syscalls.
    """
    w = np.asarray(windows, dtype=np.uint64)
    u, c = np.unique(w[w != 0], return_counts=True)  # 0: a record without a window (no syscall)
    return u, c.astype(np.int64)


def merge_counts(parts: list[CodeCounts]) -> CodeCounts:
    if not parts:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    u = np.concatenate([p[0] for p in parts])
    c = np.concatenate([p[1] for p in parts])
    keys, inv = np.unique(u, return_inverse=True)
    return keys, np.bincount(inv, weights=c, minlength=keys.size).astype(np.int64)


def topk_mean(values: np.ndarray, counts: np.ndarray, k: int) -> float:
    """Mean of the ``k`` largest of a multiset (``values[i]`` occurring ``counts[i]`` times).

    Fewer than ``k`` elements: their mean (as SequenceModel.score does).
    """
    n = int(counts.sum()) if counts.size else 0
    if n == 0:
        return 0.0
    order = np.argsort(-values, kind="stable")
    v = values[order]
    c = np.minimum(counts[order], k)
    cum = np.cumsum(c)
    take = min(k, n)
    i = int(np.searchsorted(cum, take))  # first index where the running count reaches take
    full = float((v[:i] * c[:i]).sum())
    rest = take - (int(cum[i - 1]) if i else 0)
    return (full + float(v[i]) * rest) / take


def weighted_quantile(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(counts[order])
    i = int(np.searchsorted(cum, q * cum[-1]))
    return float(values[order][min(i, values.size - 1)])


def window_names(code: int) -> list[str]:
    """The syscalls of a window code, oldest first (see bpf/h7.h for the encoding)."""
    out: list[str] = []
    for j in range(WINDOW_LEN - 1, -1, -1):
        tok = (code >> (TOKEN_BITS * j)) & TOKEN_OTHER
        if tok == 0:
            continue
        out.append("other" if tok == TOKEN_OTHER else (syscall_name(tok - 2) or str(tok - 2)))
    return out


def _fmt_edge(e: Edge) -> str:
    return f"{e[0]} -{e[2]}-> {e[1]}"


class CausalChannel(Channel):
    name = "L3"

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        self.settings = config.settings(L3Settings)
        self.builder: CausalGraphBuilder | None = None
        self.base_edges: set[Edge] = set()
        self.base_nodes: set[str] = set()
        self.mon_edges: set[Edge] = set()
        self._batch_edges: list[set[Edge]] = []
        self._batch_codes: list[CodeCounts] = []
        self.seq: SequenceModel | None = None
        self.tau = 0.0
        self.known: np.ndarray = np.zeros(0, np.uint64)  # sorted window codes valued at tau
        self.g_scale = G_SCALE_FLOOR
        self.s_med = 0.0
        self.s_spread = S_SPREAD_FLOOR
        self.cal = Calibration(L3_FLOOR, "uncalibrated")
        self._base_scc: dict[str, int] = {}
        self._reported_cycles: set[str] = set()
        self.last: dict[str, Any] = {"divergence": 0.0}
        self.syscalls_shipped = 0  # while monitoring: windows the kernel shipped ...
        self.syscalls_known = 0  # ... and known windows it only counted

    def _builder(self, ctx: ChannelContext) -> CausalGraphBuilder:
        if self.builder is None:
            info = ctx.info
            self.builder = CausalGraphBuilder(info.root_pid if info else None, info.exe if info else None)
        return self.builder

    # -- baseline -------------------------------------------------------
    def learn(self, batch: Batch, ctx: ChannelContext) -> None:
        edges = set(self._builder(ctx).edges(batch.events))
        self._batch_edges.append(edges)
        self._batch_codes.append(code_counts(batch.syscalls["window"]))

    @staticmethod
    def _nodes(edges: set[Edge]) -> set[str]:
        return {e[0] for e in edges} | {e[1] for e in edges}

    def _graph_novelty(
        self, edges: set[Edge], known_edges: set[Edge], known_nodes: set[str]
    ) -> tuple[float, list[Edge], list[str]]:
        new_e = sorted(edges - known_edges)
        new_n = sorted(self._nodes(edges) - known_nodes)
        return float(len(new_e) + len(new_n)), new_e, new_n

    @staticmethod
    def _values(model: SequenceModel, codes: np.ndarray, known: np.ndarray, tau: float) -> np.ndarray:
        """Novelty of each window, with every known window valued at exactly ``tau``."""
        return np.where(in_sorted(known, codes), tau, model.code_novelty(codes))

    def _seq_score(
        self, model: SequenceModel | None, cc: CodeCounts, n_filtered: int, known: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Top-k mean novelty of a batch: its shipped windows plus ``n_filtered`` at ``tau``.

        Returns the score and the shipped windows' values (for evidence).
        """
        codes, counts = cc
        if model is None or (codes.size == 0 and n_filtered == 0):
            return 0.0, codes, np.zeros(0)
        vals = self._values(model, codes, known, self.tau)
        # The count of a fraction-of-the-batch score includes the windows the kernel only counted.
        k = model.scored_count(int(counts.sum()) + n_filtered)
        allv = np.append(vals, self.tau) if n_filtered else vals
        allc = np.append(counts, min(n_filtered, k)) if n_filtered else counts
        return topk_mean(allv, allc, k), codes, vals

    def kernel_filter(self) -> np.ndarray | None:
        """Window codes the kernel need not ship any more (None: no model)."""
        return self.known if self.seq is not None else None

    def finish_baseline(self, ctx: ChannelContext) -> None:
        super().finish_baseline(ctx)
        n = len(self._batch_edges)
        for e in self._batch_edges:
            self.base_edges |= e
        self.base_nodes = self._nodes(self.base_edges)
        # Leave-one-out graph novelty: an edge is new to batch i iff no other batch had it.
        ecount: Counter[Edge] = Counter()
        ncount: Counter[str] = Counter()
        for e in self._batch_edges:
            ecount.update(e)
            ncount.update(self._nodes(e))
        g_loo = np.array(
            [
                float(sum(ecount[x] == 1 for x in e) + sum(ncount[x] == 1 for x in self._nodes(e)))
                for e in self._batch_edges
            ]
        )
        s_kf = np.zeros(n)
        has_sys = np.array([cc[0].size > 0 for cc in self._batch_codes], dtype=bool)
        if has_sys.any():
            allc = merge_counts(self._batch_codes)
            self.seq = self.settings.sequence_model().fit_codes([allc])
            self.tau, self.known = self._known_windows(self.seq, allc)
            if n >= 2:
                # Interleaved k-fold, each fold run exactly as monitoring runs: a model
                # and a known set from the other batches, scored with clipping at tau.
                for fold in kfold_indices(n, KFOLD):
                    held = set(fold.tolist())
                    train = [cc for i, cc in enumerate(self._batch_codes) if i not in held and cc[0].size]
                    if not train:
                        continue
                    tr = merge_counts(train)
                    m = self.settings.sequence_model().fit_codes([tr])
                    nov = m.code_novelty(tr[0])
                    known_f = tr[0][nov <= self.tau]
                    for i in fold:
                        s_kf[i] = self._seq_score(m, self._batch_codes[i], 0, known_f)[0]
        if n:
            self.g_scale = max(G_SCALE_FLOOR, float(np.quantile(g_loo, 0.9)))
        if has_sys.sum() >= 2:
            # Location and upper spread of held-out sequence novelty: idle
            # sub-windows crowd the median, so the spread is read from the
            # upper half (q90 - q50), which is where benign busy windows live.
            s = s_kf[has_sys]
            self.s_med = float(np.median(s))
            self.s_spread = max(S_SPREAD_FLOOR, float(np.quantile(s, 0.9)) - self.s_med)
        d = g_loo / self.g_scale + np.where(has_sys, np.maximum(0.0, s_kf - self.s_med) / self.s_spread, 0.0)
        self.cal = calibrate_threshold(
            d,
            floor=self.config.floor("L3", "STRUCTURAL_DRIFT", L3_FLOOR),
            budget=self.config.false_alarm_budget,
            override=self.config.threshold_override("L3", "STRUCTURAL_DRIFT"),
        )
        self._batch_edges, self._batch_codes = [], []
        self._index_baseline_scc()

    def _known_windows(self, model: SequenceModel, allc: CodeCounts) -> tuple[float, np.ndarray]:
        """``tau`` (the known quantile of baseline position novelty) and the windows at or below it."""
        codes, counts = allc
        nov = model.code_novelty(codes)
        q = self.settings.known_quantile
        if q <= 0.0:
            return float(nov.min()) - 1.0, np.zeros(0, np.uint64)  # nothing known: ship everything
        tau = weighted_quantile(nov, counts, q)
        return tau, np.sort(codes[nov <= tau])

    def _index_baseline_scc(self) -> None:
        nodes = sorted(self.base_nodes)
        labels = _scc_labels(nodes, self.base_edges)
        sizes = Counter(labels.values())
        self._base_scc = {v: lab for v, lab in labels.items() if sizes[lab] >= 2}

    # -- monitoring -----------------------------------------------------
    def judge(self, batch: Batch, ctx: ChannelContext) -> list[Alert]:
        edges = set(self._builder(ctx).edges(batch.events))
        g, new_e, new_n = self._graph_novelty(edges, self.base_edges, self.base_nodes)
        sys = batch.syscalls
        st = batch.stats.get(ctx.agent)
        n_filtered = max(0, int(st["syscalls"]) - int(sys.size)) if st is not None else 0
        cc = code_counts(sys["window"])
        s, codes, vals = self._seq_score(self.seq, cc, n_filtered, self.known)
        active = bool(codes.size or n_filtered)
        self.syscalls_shipped += int(sys.size)
        self.syscalls_known += n_filtered
        s_term = max(0.0, s - self.s_med) / self.s_spread if active else 0.0
        d = g / self.g_scale + s_term
        drift = {
            "divergence": round(d, 4),
            "threshold": round(self.cal.threshold, 4),
            "graph_novelty": int(g),
            "graph_scale": round(self.g_scale, 3),
            "sequence_novelty_nats": round(s, 4),
            "sequence_baseline_median_nats": round(self.s_med, 4),
            "sequence_baseline_spread_nats": round(self.s_spread, 4),
            "new_edge_count": len(new_e),
            "new_node_count": len(new_n),
            "new_edges": [_fmt_edge(e) for e in new_e[:50]],
            "new_nodes": new_n[:50],
            "sequence_known_windows_nats": round(self.tau, 4),
            "syscalls_shipped": int(sys.size),
            "syscalls_known": n_filtered,
            "novel_windows": self._windows_evidence(sys, codes, vals),
        }
        self.last = {"divergence": d, "graph": g, "sequence": s, "new_edges": len(new_e)}
        out: list[Alert] = []
        cycle = self._cycles(edges, ctx, batch, drift)
        out.extend(cycle)
        if not cycle and d > self.cal.threshold:
            key = "structure"
            out.append(
                ctx.alert("L3", "STRUCTURAL_DRIFT", int(batch.t1_ns), d, self.cal.threshold, key, drift)
            )
        return out

    @staticmethod
    def _windows_evidence(sys: np.ndarray, codes: np.ndarray, vals: np.ndarray) -> list[dict[str, Any]]:
        """The three most novel windows of the batch: which thread, which syscalls."""
        if codes.size == 0:
            return []
        m = min(3, codes.size)
        cand = np.argpartition(vals, codes.size - m)[codes.size - m :]  # O(n), not a sort
        best = cand[np.lexsort((cand, -vals[cand]))]
        out = []
        for i in best.tolist():
            code = int(codes[i])
            where = np.flatnonzero(sys["window"] == np.uint64(code))
            out.append(
                {
                    "tid": int(sys["tid"][where[0]]) if where.size else 0,
                    "novelty_nats": round(float(vals[i]), 4),
                    "syscalls": window_names(code),
                }
            )
        return out

    def _cycles(
        self, edges: set[Edge], ctx: ChannelContext, batch: Batch, drift: dict[str, Any]
    ) -> list[Alert]:
        fresh = {e for e in edges if e not in self.base_edges and e not in self.mon_edges}
        if not fresh:
            return []
        if len(self.mon_edges) < self.settings.max_edges:
            self.mon_edges |= fresh
        all_edges = self.base_edges | self.mon_edges
        nodes = sorted(self._nodes(all_edges))
        labels = _scc_labels(nodes, all_edges)
        members: dict[int, list[str]] = {}
        for v, lab in labels.items():
            members.setdefault(lab, []).append(v)
        out: list[Alert] = []
        for vs in sorted(members.values(), key=min):
            if len(vs) < 2:
                continue
            images = [v for v in vs if v.startswith("exe:")]
            if len(images) < self.settings.min_cycle_images:
                continue
            base_labels = {self._base_scc.get(v) for v in vs}
            if len(base_labels) == 1 and None not in base_labels:
                continue  # the baseline already had this loop
            vset = set(vs)
            closing = sorted(e for e in fresh if e[0] in vset and e[1] in vset)
            if not closing:
                continue  # grew elsewhere; this SCC was reported when it formed
            sig = hashlib.sha256("\n".join(sorted(vs)).encode()).hexdigest()[:16]
            if sig in self._reported_cycles:
                continue
            self._reported_cycles.add(sig)
            new_in = sorted(e for e in all_edges - self.base_edges if e[0] in vset and e[1] in vset)
            path = _cycle_through(closing[0], all_edges, vset)
            evidence = {
                "cycle": path,
                "nodes": sorted(vs)[:40],
                "images": sorted(images),
                "closing_edges": [_fmt_edge(e) for e in closing[:20]],
                "new_edges_in_cycle": [_fmt_edge(e) for e in new_in[:20]],
                "structural_drift": drift,
            }
            div = float(len(new_in))
            # Binary verdict; the divergence counts the new edges inside the loop (>= 1).
            out.append(ctx.alert("L3", "CAUSAL_CYCLE_DETECTED", int(batch.t1_ns), div, 1.0, sig, evidence))
        return out

    def status(self) -> dict[str, Any]:
        return {
            "state": "monitoring" if self.baselined else "learning",
            "divergence": float(self.last.get("divergence", 0.0)),
            "threshold": self.cal.threshold,
            "calibration": self.cal.to_dict(),
            "baseline_edges": len(self.base_edges),
            "baseline_nodes": len(self.base_nodes),
            "monitoring_new_edges": len(self.mon_edges),
            "known_windows": int(self.known.size),
            "syscalls_shipped": self.syscalls_shipped,
            "syscalls_known_in_kernel": self.syscalls_known,
            "last": self.last,
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "edges": [list(e) for e in sorted(self.base_edges)],
            "seq": self.seq.to_state() if self.seq is not None else None,
            "tau": self.tau,
            "known": self.known.astype("<u8").tobytes(),
            "g_scale": self.g_scale,
            "s_med": self.s_med,
            "s_spread": self.s_spread,
            "cal": self.cal.to_dict(),
        }

    def from_state(self, state: dict[str, Any]) -> None:
        self.base_edges = {(str(a), str(b), str(k)) for a, b, k in state["edges"]}
        self.base_nodes = self._nodes(self.base_edges)
        self.seq = SequenceModel.from_state(state["seq"]) if state.get("seq") else None
        self.tau = float(state.get("tau", 0.0))
        known = np.frombuffer(state.get("known", b""), dtype="<u8").astype(np.uint64)
        if known.size > 1 and not bool(np.all(known[1:] > known[:-1])):
            raise ValueError("corrupt known-window table")
        self.known = known
        self.g_scale = float(state["g_scale"])
        self.s_med = float(state["s_med"])
        self.s_spread = float(state["s_spread"])
        self.cal = Calibration.from_dict(state["cal"])
        override = self.config.threshold_override("L3", "STRUCTURAL_DRIFT")
        if override is not None:
            self.cal = Calibration(override, "override")
        self._index_baseline_scc()
        self.baselined = True


def _scc_labels(nodes: list[str], edges: set[Edge]) -> dict[str, int]:
    """Strongly connected component label of every node."""
    if not nodes:
        return {}
    index = {v: i for i, v in enumerate(nodes)}
    ordered = sorted(edges)
    labels = scc_labels(len(nodes), [index[e[0]] for e in ordered], [index[e[1]] for e in ordered])
    return {v: labels[i] for v, i in index.items()}


def _cycle_through(edge: Edge, edges: set[Edge], within: set[str]) -> list[str]:
    """A concrete directed cycle through ``edge`` (BFS back from its head to its tail)."""
    adj: dict[str, list[tuple[str, str]]] = {}
    for a, b, k in sorted(edges):
        if a in within and b in within:
            adj.setdefault(a, []).append((b, k))
    start, goal = edge[1], edge[0]
    prev: dict[str, tuple[str, str] | None] = {start: None}
    q = deque([start])
    while q:
        v = q.popleft()
        if v == goal:
            break
        for w, k in adj.get(v, []):
            if w not in prev:
                prev[w] = (v, k)
                q.append(w)
    if goal not in prev:
        return [_fmt_edge(edge)]
    steps: list[str] = []
    v = goal
    while prev[v] is not None:
        p, k = prev[v]  # type: ignore[misc]
        steps.append(f"{p} -{k}-> {v}")
        v = p
    steps.reverse()
    return [_fmt_edge(edge), *steps]


SPEC = register(
    ChannelSpec(
        name="L3",
        summary="process-causality graph (fork/exec/open/connect) and syscall-sequence windows",
        codes=(
            AlertCode("STRUCTURAL_DRIFT", "medium", "Agent process structure drifted from its baseline"),
            AlertCode("CAUSAL_CYCLE_DETECTED", "medium", "Causal cycle in agent activity"),
        ),
        settings=L3Settings,
        factory=CausalChannel,
    )
)
