"""`h7 attach`, unchanged, plus one JSON line per batch with every channel's divergence and threshold.

The eval plots each channel's divergence over time against its threshold.
Rather than add an option to the sensor, this wrapper runs the real CLI
(``h7 attach ...``) in-process and wraps ``Engine.end_batch`` to append,
after each batch, what ``Channel.status()`` already reports.  If the engine's
shape changes (the pipeline is being refactored), the wrapper writes nothing
and attach runs as usual: the plots go missing, detection does not.

Usage: attach_scored.py --scores FILE attach PID [h7 attach options...]
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def last_verdicts(engine: Any, batch: Any, now: float) -> dict[str, float]:
    """Per channel, the wall time of its latest verdict, certified or folded, over all agents.

    The harness spaces attacks by it: a channel's verdicts fold into one episode
    while they recur within ``fold_gap`` (h7.detect.folding), so an attack is a
    separate episode only if its channel was quiet for longer than that before it.
    Read from the folder's per-key state (kernel time); converted to wall time
    through the batch's end so the two clocks never have to agree.
    """
    out: dict[str, float] = {}
    t1 = int(batch.t1_ns)
    for st in engine.agents.values():
        for (channel, _code, _key), ks in st.folder._keys.items():
            wall = now - (t1 - int(ks.last_seen_ns)) / 1e9
            out[channel] = max(out.get(channel, 0.0), wall)
    return out


def windows(st: Any) -> dict[str, list[float]]:
    """Per channel with a long window (h7.detect.window): [statistic, h] of its closest-to-firing CUSUM.

    ``status()["window"]`` is one CUSUM's status (L1) or one per metric (L4);
    the plot draws the one nearest its decision threshold h.
    """
    out: dict[str, list[float]] = {}
    for ch in st.channels:
        w = ch.status().get("window")
        if not isinstance(w, dict):
            continue
        cands = [w] if "cusum" in w else [v for v in w.values() if isinstance(v, dict)]
        best = None
        for c in cands:
            s, h = c.get("cusum"), c.get("h")
            if not (isinstance(s, (int, float)) and isinstance(h, (int, float)) and h > 0):
                continue  # h None: this window can never fire
            if best is None or s / h > best[0] / best[1]:
                best = [float(s), float(h)]
        if best is not None:
            out[ch.name] = best
    return out


def install(path: str) -> None:
    from h7.detect import engine as eng

    out = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the sensor
    orig = eng.Engine.end_batch

    def end_batch(self: Any, batch: Any, *a: Any, **kw: Any) -> Any:
        res = orig(self, batch, *a, **kw)
        try:
            rec: dict[str, Any] = {"t": time.time(), "phase": self.phase, "agents": {}}
            for st in self.agents.values():
                chans = {}
                for ch in st.channels:
                    s = ch.status()
                    chans[ch.name] = [float(s.get("divergence") or 0.0), float(s.get("threshold") or 0.0)]
                rec["agents"][st.ctx.agent_id] = chans
            try:
                rec["windows"] = {st.ctx.agent_id: windows(st) for st in self.agents.values()}
            except Exception as e:  # the plots lose their CUSUM lines, nothing else
                rec["windows_error"] = repr(e)
            try:
                rec["last_verdict"] = last_verdicts(self, batch, float(rec["t"]))
            except Exception as e:  # the folder's shape changed: the harness falls back to certificates
                rec["last_verdict_error"] = repr(e)
            out.write(json.dumps(rec) + "\n")
        except Exception as e:  # never let the score dump disturb detection
            out.write(json.dumps({"t": time.time(), "error": repr(e)}) + "\n")
        return res

    eng.Engine.end_batch = end_batch  # type: ignore[method-assign]


def main() -> None:
    argv = sys.argv[1:]
    if len(argv) < 2 or argv[0] != "--scores":
        sys.exit("usage: attach_scored.py --scores FILE attach PID [options]")
    install(argv[1])
    from h7.cli import main as h7_main

    sys.argv = ["h7", *argv[2:]]
    h7_main()


if __name__ == "__main__":
    main()
