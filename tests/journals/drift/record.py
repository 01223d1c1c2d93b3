"""Record the slow-drift journals in this folder with the real sensor (root, real BPF).

    python tests/journals/drift/record.py [NAME...]      # all of them by default

Every scenario is recorded twice, as ``<scenario>_dev.h7j`` and
``<scenario>_test.h7j``: separate runs of the same setup.  The ``dev`` ones
were used to choose the design of the windowed detectors (h7/detect/window.py);
the ``test`` ones were never looked at for that and are what
tests/test_detect_window.py reports on.  Thresholds come from each journal's
own 30-s baseline in both cases.

Scenarios (all RECORD_S long, changes start at CHANGE_AT):

* ``redis`` -- redis-server (private, 127.0.0.1, no persistence) under steady
  redis-benchmark load for the whole run: its baseline is learnt under that
  load and nothing changes (issue 12: 3 DRIFT_DETECTED in 30 s).
* ``agent`` -- the demo agent (h7/demo/agent.py), benign throughout.
* ``miner10`` -- the demo agent with a miner thread injected at CHANGE_AT that
  burns the CPU 10 % of the time (10 ms of SHA-256 every 100 ms).
* ``egress2x`` -- the demo agent with a second thread injected at CHANGE_AT
  that does what the agent's model calls do (a connect and a small request
  to its own, allowed, model API) at the agent's own pace: egress doubles,
  to a destination that is allowed.
* ``hog`` / ``hog2`` -- the demo agent, benign; one / two nice-0 CPU hogs in
  another, unwatched process from CHANGE_AT (a noisy neighbour: L1 must not
  alarm because the host is loaded).
* ``spin`` -- tests/agents/spin_agent.py left quiet (a very regular
  one-thread agent), one hog from CHANGE_AT.
* ``node`` -- tests/agents/node_agent.js, a Node agent analogue (V8's threads, libuv's
  pool, an in-process model API called every 1-4 s), benign throughout (NODE_RECORD_S).
* ``nodeminer10`` -- the same with a worker thread injected at CHANGE_AT that hashes 10 ms
  of every 100 (a 10 % duty cycle); ``nodespin`` -- one worker hashing flat out for
  NODE_SPIN_S (what make eval's one-thread miner does in its Node stack).
* ``nodebusy`` / ``nodebusyminer10`` -- the same agent with ~1.5-MB model replies kept and
  re-serialised (``--reply-kb``): bursty, its mean CPU time several times its median (an
  SDK validating and re-sending a long conversation); benign / a 10 % miner from CHANGE_AT.
* ``nodewarm`` / ``nodewarmspin`` -- the plain Node analogue with a start-up burst (``warm``,
  NODE_WARM_S on the main thread, NODE_WARM_AT into the recording, so inside the baseline):
  benign / one worker hashing flat out for NODE_SPIN_S from CHANGE_AT (session 7: what hides a
  one-thread miner behind a busy start).  ``nodebusyspin``: the bursty ``nodebusy`` agent with
  that worker from CHANGE_AT.
* ``loadup`` / ``loadminer10`` / ``loadspin`` (session 10, the run-queue split) -- the demo
  agent, its baseline at the host's load, then LOAD_HOGS nice-0 CPU hogs in another process from
  LOAD_AT (just after the baseline) to the end: benign / a 10 % miner from CHANGE_AT / one
  thread hashing flat out for LOAD_SPIN_S from CHANGE_AT (make eval's one-thread miner).
* ``toolslow`` (session 11) -- tests/agents/toolloop_agent.py: 8 tool workers (each a tool step,
  then a 0.1-0.3 s sleep) for TOOLSLOW_FAST_S (the whole baseline), then 1 of them to the end
  (TOOLSLOW_RECORD_S), benign throughout: monitored batches of the baseline's shape with an
  eighth of its events (L1's small-batch sampling noise, the class of session 10's eval false
  alerts).
* ``spinlong`` / ``spinquiet`` -- the same agent quiet for SPIN_QUIET_S, no
  hog: the host's own load (session 5: 5-10 on 2 cores).  Of these session-5
  scenarios only ``*_dev`` chose settings; ``spinquiet_test`` and
  ``hog2_test`` are what tests/test_detect_window.py reports on.

Syscall records are stripped before saving (L1 and L4 read the kernel's
per-batch counters and the discrete events, not the syscall stream; it
would make the journals tens of MB).  Replay them with channels L1 and L4.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent))

RECORD_S = 150.0
REDIS_RECORD_S = 100.0
CHANGE_AT = 60.0
BASELINE_S = 30

MINER = """
import hashlib, threading, time
def mine():
    end = time.monotonic() + float(ARGS["seconds"])
    h = b"h7"
    while time.monotonic() < end:  # bounded in time
        t = time.monotonic()
        while time.monotonic() - t < float(ARGS["busy"]):
            h = hashlib.sha256(h).digest()
        time.sleep(float(ARGS["idle"]))
threading.Thread(target=mine, daemon=True).start()
"""

EGRESS = """
import http.client, random, threading, time
def leak():
    end = time.monotonic() + float(ARGS["seconds"])
    rng = random.Random(7)
    while time.monotonic() < end:  # bounded in time
        try:
            c = http.client.HTTPConnection("127.0.0.1", int(ARGS["port"]), timeout=5)
            c.request("GET", "/healthz")
            c.getresponse().read()
            c.close()
        except OSError:
            pass
        time.sleep(rng.uniform(0.1, 0.3))
threading.Thread(target=leak, daemon=True).start()
"""


def inject_code(api_port: int, code: str, args: dict[str, object]) -> None:
    """Have the demo agent's `python` tool run ``code`` (what a prompt injection does)."""
    import json
    import urllib.request

    body = json.dumps({"tool": "python", "name": "drift.py", "code": code, "args": args}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{api_port}/inject", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        r.read()


def strip_file_events(path: Path) -> None:
    """Drop the file events (open, access) of a journal: L1 and L4 never read them.

    ``toolslow``'s tool workers open files ~60 times a second; kept, they
    made each recording 3.4 MB instead of a few hundred KB.
    """
    from h7.journal import read_journal, write_journal

    header, batches, trunc = read_journal(path)
    if trunc is not None:
        raise SystemExit(f"{path}: truncated recording ({trunc})")
    for b in batches:
        b.events = [e for e in b.events if e.get("type") not in ("open", "access")]
    tmp = path.with_suffix(".tmp")
    meta: dict[str, object] = {**header.meta, "file_events": "stripped (tests/journals/drift/record.py)"}
    write_journal(tmp, batches, header.agents, host=header.host, batch_ns=header.batch_ns,
                  start_ns=header.start_ns, meta=meta)  # fmt: skip
    tmp.replace(path)


def strip_syscalls(path: Path, change_ns: int | None) -> None:
    from h7.decode import SYS_DTYPE
    from h7.journal import read_journal, write_journal

    header, batches, trunc = read_journal(path)
    if trunc is not None:
        raise SystemExit(f"{path}: truncated recording ({trunc})")
    for b in batches:
        b.syscalls = np.zeros(0, SYS_DTYPE)
    tmp = path.with_suffix(".tmp")
    meta: dict[str, object] = {**header.meta, "syscalls": "stripped (tests/journals/drift/record.py)"}
    if change_ns is not None:
        meta["change_ns"] = change_ns  # CLOCK_MONOTONIC, like the kernel timestamps
    write_journal(
        tmp,
        batches,
        header.agents,
        host=header.host,
        batch_ns=header.batch_ns,
        start_ns=header.start_ns,
        meta=meta,
    )
    tmp.replace(path)


def record_demo(name: str, scenario: str, workroot: Path) -> tuple[Path, int | None]:
    from h7.demo.runner import Demo

    out = HERE / f"{name}.h7j"
    out.unlink(missing_ok=True)
    change_ns = None
    hog: list[subprocess.Popen[bytes]] | None = None
    d = Demo(workroot / name, baseline_s=0, benign_s=0, wait_s=0, out=io.StringIO())
    try:
        _, port = d.setup(record=out, record_s=RECORD_S)
        t0 = time.monotonic()
        if scenario != "agent":
            at = LOAD_AT if scenario.startswith("load") else CHANGE_AT
            time.sleep(max(0.0, at - (time.monotonic() - t0)))
            left = RECORD_S - CHANGE_AT + 5
            change_ns = time.monotonic_ns()
            if scenario in ("hog", "hog2"):
                hog = start_hog(left, 2 if scenario == "hog2" else 1)
            elif scenario in ("loadup", "loadminer10", "loadspin"):
                # the host's load rises right after the baseline; a change (or none) at CHANGE_AT
                hog = start_hog(RECORD_S - LOAD_AT + 5, LOAD_HOGS)
                if scenario == "loadup":  # benign throughout: its change is the load itself
                    d.sensor.wait(timeout=RECORD_S + 60)
                    return out, change_ns
                time.sleep(max(0.0, CHANGE_AT - LOAD_AT))
                change_ns = time.monotonic_ns()
                if scenario == "loadminer10":
                    inject_code(port, MINER, {"seconds": left, "busy": 0.010, "idle": 0.090})
                elif scenario == "loadspin":
                    inject_code(port, MINER, {"seconds": LOAD_SPIN_S, "busy": LOAD_SPIN_S, "idle": 0.0})
            elif scenario == "miner10":
                args: dict[str, object] = {"seconds": left, "busy": 0.010, "idle": 0.090}
                inject_code(port, MINER, args)
            else:
                inject_code(port, EGRESS, {"seconds": left, "port": port})
        d.sensor.wait(timeout=RECORD_S + 60)
    finally:
        if hog is not None:
            stop(hog)
        d.stop()
    return out, change_ns


#: load*: the hogs start this long into the recording (just after the 30-s baseline) ...
LOAD_AT = 33.0
#: ... this many of them on this 2-core host (host load +3 over the baseline's)
LOAD_HOGS = 3
#: loadspin: one thread of the agent hashes flat out for this long from CHANGE_AT
LOAD_SPIN_S = 12.0

#: a CPU hog in ANOTHER process (not watched, nice 0, bounded in time): a noisy neighbour
HOG = "import sys,time\nt=time.monotonic()\nwhile time.monotonic()-t<float(sys.argv[1]): pass\n"


def start_hog(seconds: float, n: int = 1) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", HOG, f"{seconds:g}"]) for _ in range(n)]


def stop(p: subprocess.Popen[Any] | list[subprocess.Popen[Any]]) -> None:
    for q in p if isinstance(p, list) else [p]:
        if q.poll() is None:
            q.kill()
        q.wait()


#: spinlong/spinquiet: the spin agent alone for this long (no hog: the host's own load)
SPIN_QUIET_S = 240.0


#: spinrun: the spin agent's one thread spins for this long from CHANGE_AT
SPIN_RUN_S = 40.0


def record_spin(
    name: str, workroot: Path, hog_at: float | None = CHANGE_AT, spin: bool = False
) -> tuple[Path, int | None]:
    """tests/agents/spin_agent.py: quiet, then a hog from ``hog_at`` -- or (``spin``) its own thread
    spinning for SPIN_RUN_S from CHANGE_AT."""
    out = HERE / f"{name}.h7j"
    out.unlink(missing_ok=True)
    spin_py = HERE.parent.parent / "agents" / "spin_agent.py"
    agent = subprocess.Popen(
        [sys.executable, str(spin_py), "--life-s", f"{RECORD_S + 60:g}", "--spin-s", f"{SPIN_RUN_S:g}"],
        stdout=subprocess.PIPE,
    )
    hog: list[subprocess.Popen[bytes]] | None = None
    try:
        assert agent.stdout is not None and agent.stdout.readline().strip() == b"ready"
        secs = RECORD_S if hog_at is not None else SPIN_QUIET_S
        rec = subprocess.Popen(
            [sys.executable, "-m", "h7", "record", str(agent.pid), "-o", str(out),
             "--duration", f"{secs:g}s"]
        )  # fmt: skip
        change_ns = None
        if spin:
            time.sleep(CHANGE_AT)
            change_ns = time.monotonic_ns()
            agent.send_signal(signal.SIGUSR1)
        elif hog_at is not None:
            time.sleep(hog_at)
            change_ns = time.monotonic_ns()
            hog = start_hog(secs - hog_at + 5)
        rec.wait(timeout=secs + 60)
    finally:
        for p in (hog, agent):
            if p is not None:
                stop(p)
    return out, change_ns


#: toolslow: the tool loop's busy pace lasts this long (past the 30-s baseline), then slows
TOOLSLOW_FAST_S = 35.0
TOOLSLOW_RECORD_S = 300.0


def record_toolslow(name: str) -> tuple[Path, int | None]:
    """tests/agents/toolloop_agent.py: 8 tool workers through the baseline, 1 after it."""
    out = HERE / f"{name}.h7j"
    out.unlink(missing_ok=True)
    agent_py = HERE.parent.parent / "agents" / "toolloop_agent.py"
    seed = "11" if name.endswith("_test") else "3"
    agent = subprocess.Popen(
        [sys.executable, str(agent_py), "--life-s", f"{TOOLSLOW_RECORD_S + 60:g}",
         "--fast-s", f"{TOOLSLOW_FAST_S:g}", "--seed", seed, "--workers", "8", "--slow-workers", "1"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert agent.stdout is not None and agent.stdout.readline().strip() == b"ready"
        rec = subprocess.Popen(
            [sys.executable, "-m", "h7", "record", str(agent.pid), "-o", str(out),
             "--duration", f"{TOOLSLOW_RECORD_S:g}s"]
        )  # fmt: skip
        rec.wait(timeout=TOOLSLOW_RECORD_S + 60)
    finally:
        stop(agent)
    return out, None  # benign throughout: the slower pace is ordinary work


#: node: the benign Node analogue's recording; nodespin: its one worker's flat-out run
NODE_RECORD_S = 240.0
NODE_SPIN_S = 12.0
#: nodewarm*: a start-up burst (``warm``) this long, this many seconds into the recording
NODE_WARM_S = 6.0
NODE_WARM_AT = 2.0


def record_node(name: str, scenario: str) -> tuple[Path, int | None]:
    """tests/agents/node_agent.js under `h7 record`; nodeminer10/nodespin start their worker at CHANGE_AT."""
    out = HERE / f"{name}.h7j"
    out.unlink(missing_ok=True)
    js = HERE.parent.parent / "agents" / "node_agent.js"
    secs = NODE_RECORD_S if scenario in ("node", "nodebusy", "nodewarm") else RECORD_S
    # _test: another rhythm than _dev; _dev2 (development) and _test2 (report): two more (session 7)
    seed = {"test": "11", "dev2": "13", "test2": "17"}.get(name.rsplit("_", 1)[1], "7")
    busy = ["--reply-kb", "1500"] if scenario.startswith("nodebusy") else []
    agent = subprocess.Popen(
        ["node", str(js), "--life-s", f"{secs + 60:g}", "--seed", seed, *busy],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert agent.stdin is not None and agent.stdout is not None
        assert agent.stdout.readline().startswith("ready")
        rec = subprocess.Popen(
            [sys.executable, "-m", "h7", "record", str(agent.pid), "-o", str(out), "--duration", f"{secs:g}s"]
        )
        change_ns = None
        t0 = time.monotonic()
        if scenario.startswith("nodewarm"):
            # the start-up burst inside the baseline: the recorder has attached by now
            time.sleep(NODE_WARM_AT)
            agent.stdin.write(f"warm {NODE_WARM_S:g}\n")
            agent.stdin.flush()
        if scenario not in ("node", "nodebusy", "nodewarm"):
            time.sleep(max(0.0, CHANGE_AT - (time.monotonic() - t0)))
            change_ns = time.monotonic_ns()
            spin = scenario in ("nodespin", "nodewarmspin", "nodebusyspin")
            cmd = f"mine 1 1000 0 {NODE_SPIN_S:g}" if spin else "mine 1 10 90 120"
            agent.stdin.write(cmd + "\n")
            agent.stdin.flush()
        rec.wait(timeout=secs + 60)
    finally:
        stop(agent)
    return out, change_ns


def record_redis(name: str, workroot: Path) -> tuple[Path, int | None]:
    out = HERE / f"{name}.h7j"
    out.unlink(missing_ok=True)
    wd = workroot / name
    wd.mkdir(parents=True)
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(wd), "--logfile", str(wd / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    load = None
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as c:
                c.sendall(b"PING\r\n")
                if c.recv(16).startswith(b"+PONG"):
                    break
            time.sleep(0.1)
        # steady load for the whole recording, started before it: the baseline sees it
        load = subprocess.Popen(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "5", "-t", "set,get", "-l", "-q",
             "-n", "100000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(3.0)
        rec = subprocess.run(
            [sys.executable, "-m", "h7", "record", str(server.pid), "-o", str(out),
             "--duration", f"{REDIS_RECORD_S:g}s"],
            capture_output=True, text=True, timeout=REDIS_RECORD_S + 60,
        )  # fmt: skip
        if rec.returncode != 0:
            raise SystemExit(rec.stderr)
        print(rec.stderr.strip())
    finally:
        for p in (load, server):
            if p is not None:
                p.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=10)
                if p.poll() is None:
                    p.kill()
                    p.wait()
    return out, None


#: hog: the demo agent, benign; spin: the spin agent, quiet -- a CPU hog in another process from
#: CHANGE_AT in both (L1 must not alarm because the HOST is loaded); hog2: two hogs (both cores);
#: spinlong (dev) / spinquiet (test): the spin agent quiet for SPIN_QUIET_S, no hog;
#: spinrun: the spin agent's one thread spinning for SPIN_RUN_S from CHANGE_AT
SCENARIOS = (
    "redis",
    "agent",
    "miner10",
    "egress2x",
    "hog",
    "spin",
    "hog2",
    "spinlong",
    "spinquiet",
    "spinrun",
    "node",
    "nodeminer10",
    "nodespin",
    "nodebusy",
    "nodebusyminer10",
    "nodewarm",
    "nodewarmspin",
    "nodebusyspin",
    "loadup",
    "loadminer10",
    "loadspin",
    "toolslow",
)


def main() -> None:
    names = sys.argv[1:] or [f"{s}_{part}" for s in SCENARIOS for part in ("dev", "test")]
    if any(n.startswith("redis") for n in names) and shutil.which("redis-benchmark") is None:
        raise SystemExit(
            "redis-server/redis-benchmark not installed (apt-get install redis-server redis-tools)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            scenario = name.rsplit("_", 1)[0]
            if scenario not in SCENARIOS:
                raise SystemExit(f"unknown journal {name!r}: scenarios are {', '.join(SCENARIOS)}")
            if scenario == "redis":
                p, change_ns = record_redis(name, Path(tmp))
            elif scenario == "spin":
                p, change_ns = record_spin(name, Path(tmp))
            elif scenario == "spinrun":
                p, change_ns = record_spin(name, Path(tmp), spin=True)
            elif scenario.startswith("node"):
                p, change_ns = record_node(name, scenario)
            elif scenario == "toolslow":
                p, change_ns = record_toolslow(name)
            elif scenario in ("spinlong", "spinquiet"):
                p, change_ns = record_spin(name, Path(tmp), hog_at=None)
            else:
                p, change_ns = record_demo(name, scenario, Path(tmp))
            strip_syscalls(p, change_ns)
            if scenario == "toolslow":
                strip_file_events(p)
            print(f"{p.name}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
