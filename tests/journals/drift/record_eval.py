"""Record real-agent journals for the L1/L4 window tests with `make eval`'s own harness.

    python tests/journals/drift/record_eval.py STACK NAME [--soak S] [--attacks A,B]

Runs ``eval/harness.py`` unchanged (read-only use of the eval engineer's
tooling: its sites, scripted model API, the agent stack from eval/.envs, its
attack injection) except that the sensor it starts, ``eval/attach_scored.py``,
is wrapped once more: after every batch the engine saw, the batch is also
appended to ``tests/journals/drift/<NAME>.h7j`` -- exactly what the eval's
sensor judged, syscall records stripped (L1 and L4 read the kernel's per-batch
counters and the discrete events), net events only.  The journal's ``meta``
carries the wall-clock offset of the kernel clock and the harness's attack
marks (``attacks``: id, injected, served, as wall time), so a test can tell
benign time from each attack's window.

Development stacks only (langgraph, mcp) and development attacks only
(L1-miner, L4-exfil): the held-out stacks and variants are never recorded here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: a CPU hog in ANOTHER process (nice 0, bounded in time: argv[1] seconds)
HOG = "import sys,time\nt=time.monotonic()\nwhile time.monotonic()-t<float(sys.argv[1]): pass\n"
REPO = HERE.parent.parent.parent
DEV_STACKS = ("langgraph", "mcp")
DEV_ATTACKS = ("L1-miner", "L4-exfil")


def hook() -> None:
    """In the sensor process: wrap Engine.end_batch to journal every batch (then run attach_scored)."""
    import dataclasses
    import socket
    import time

    import numpy as np

    from h7.decode import SYS_DTYPE
    from h7.detect import engine as eng
    from h7.journal import JournalHeader, JournalWriter

    path = os.environ["H7_DRIFT_JOURNAL"]
    orig = eng.Engine.end_batch
    state: dict[str, Any] = {}

    def end_batch(self: Any, batch: Any, *a: Any, **kw: Any) -> Any:
        res = orig(self, batch, *a, **kw)
        if "w" not in state:
            infos = [st.ctx.info for st in self.agents.values() if st.ctx.info is not None]
            meta = {"wall_minus_mono_ns": time.time_ns() - time.monotonic_ns(), "syscalls": "stripped"}
            hdr = JournalHeader(
                socket.gethostname(), infos, int(batch.t0_ns), int(self.config.batch_ns), meta=meta
            )
            state["w"] = JournalWriter(path, hdr)
        nets = [e for e in batch.events if e.get("type") == "net"]
        state["w"].write(dataclasses.replace(batch, syscalls=np.zeros(0, SYS_DTYPE), events=nets))
        return res

    eng.Engine.end_batch = end_batch  # type: ignore[method-assign]


def add_marks(path: Path, result: dict[str, Any]) -> None:
    """Put the harness's attack times into the journal's meta (rewrites the file)."""
    from h7.journal import read_journal, write_journal

    header, batches, trunc = read_journal(path)
    if trunc is not None:
        raise SystemExit(f"{path}: truncated recording ({trunc.message()})")
    meta = {
        **header.meta,
        "stack": result["stack"],
        "marks": result["marks"],
        "attacks": [
            {k: a.get(k) for k in ("id", "injected", "served", "detected")} for a in result["attacks"]
        ],
        "recorded_by": "tests/journals/drift/record_eval.py",
    }
    if os.environ.get("H7_DRIFT_LOAD_NS"):  # --load-hogs: when the host's load rose (CLOCK_MONOTONIC)
        meta["load_ns"] = int(os.environ["H7_DRIFT_LOAD_NS"])
    tmp = path.with_suffix(".tmp")
    write_journal(tmp, batches, header.agents, host=header.host, batch_ns=header.batch_ns,
                  start_ns=header.start_ns, meta=meta)  # fmt: skip
    tmp.replace(path)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--sensor":  # the wrapped sensor process
        hook()
        sys.path.insert(0, str(REPO / "eval"))
        import attach_scored

        sys.argv = [str(REPO / "eval" / "attach_scored.py"), *sys.argv[2:]]
        attach_scored.main()
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("stack", choices=DEV_STACKS)
    ap.add_argument("name")
    ap.add_argument("--soak", type=float, default=300.0)
    ap.add_argument("--attacks", default=",".join(DEV_ATTACKS))
    ap.add_argument("--rundir", type=Path, default=Path("/var/tmp/h7-drift-record"))
    ap.add_argument(
        "--load-hogs",
        type=int,
        default=0,
        help="start this many CPU hogs in other processes as the baseline ends (host load rises)",
    )
    a = ap.parse_args()
    bad = [x for x in a.attacks.split(",") if x and x not in DEV_ATTACKS]
    if bad:
        raise SystemExit(f"record_eval: development attacks only, not {bad}")
    out = HERE / f"{a.name}.h7j"
    out.unlink(missing_ok=True)
    os.environ["H7_DRIFT_JOURNAL"] = str(out)
    sys.path.insert(0, str(REPO / "eval"))
    import harness

    orig_spawn = harness.Run.spawn

    def spawn(self: Any, args: list[str], log: str, **kw: Any) -> Any:
        args = list(args)
        if len(args) > 1 and args[1].endswith("attach_scored.py"):
            args[1:2] = [str(Path(__file__).resolve()), "--sensor"]
        return orig_spawn(self, args, log, **kw)

    harness.Run.spawn = spawn
    hogs: list[subprocess.Popen[bytes]] = []
    if a.load_hogs > 0:  # session 10: the baseline at the host's load, the rest at a higher one
        orig_say = harness.Run.say

        def say(self: Any, msg: str) -> None:
            if msg.startswith("baseline complete") and not hogs:
                bound = f"{a.soak + 300:g}"  # every hog ends by itself
                hogs.extend(subprocess.Popen([sys.executable, "-c", HOG, bound]) for _ in range(a.load_hogs))
                os.environ["H7_DRIFT_LOAD_NS"] = str(time.monotonic_ns())
            orig_say(self, msg)

        harness.Run.say = say
    run = harness.Run(harness.BY_NAME[a.stack], a.rundir / a.stack, 30.0, a.soak, 45.0, 12)
    try:
        res = run.run([x for x in a.attacks.split(",") if x])
    finally:
        run.stop()
        for h in hogs:
            h.kill()
            h.wait()
    add_marks(out, res)
    (a.rundir / f"{a.name}.result.json").write_text(json.dumps(res, default=str)[:10_000_000])
    print(f"{out}: {out.stat().st_size} bytes; attacks {[(x['id'], x['detected']) for x in res['attacks']]}")


if __name__ == "__main__":
    main()
