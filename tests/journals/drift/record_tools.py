"""Record the busy-tool journals (L1 per-process attribution) with the real sensor (root, real BPF).

    python tests/journals/drift/record_tools.py NAME...     # e.g. tool_dev toolspin_dev

Unlike record.py these are recorded by ``h7 attach --journal`` (the engine's
path), so every batch carries the per-process CPU sample L1's attribution
needs (``Batch.procs``, h7.detect.proctree); ``h7 record`` takes none.  The
demo agent (h7/demo/agent.py) is benign for CHANGE_AT seconds (the replay's
30-s baseline and 20 s of monitoring), then its ``python`` tool -- what a
prompt injection or an ordinary task asks it to run -- does one of:

* ``tool`` -- a build step: compileall of a copy of the stdlib's email package
  in child processes (exec'd python) for 8 s, and again for 4 s at +30 s.
  Benign (session 7's agenttool_dev, re-recorded with per-process samples).
* ``toolspin`` -- the same build step for TOOL_S seconds AND, in the agent
  process itself, a thread hashing flat out for the same TOOL_S (a miner
  hiding behind a busy tool).  Attack.
* ``toolminer10`` -- the build step for 8 s and an in-agent thread hashing 10 ms
  of every 100 from the same moment to the end.  Attack.
* ``toolfork`` -- the build step for TOOL_S and a child the agent FORKED (no
  exec) hashing flat out for TOOL_S.  Attack.
* ``execminer`` -- a miner exec'd as a new program (``python -c <hash loop>``)
  for TOOL_S: the class L1 now sets apart as a tool run; L2 judges its exec.
* ``toolthenspin`` -- two causes one after the other (L1's fold key, session
  13): a quiet tool run (``python -c``, sleeping 3 ms at a time for 20 s: a
  new scheduling shape at little CPU, as a tool run the agent waits on) and,
  10 s after it started, an in-agent thread hashing flat out for TOOL_S.  The
  tool run's verdict is held when the miner starts; the miner must get a
  certificate of its own (round 10's first run folded a miner into an
  earlier phase's tool-run certificate).
* ``quiettool`` -- benign, two quiet tool runs the agent waits on: the same
  ``python -c`` napping 3 ms at a time for 20 s, then (at +25 s) another for
  15 s under ``strace -f`` (a tracer's stops: thousands of switches a second
  at little CPU).  The class of tool runs whose scheduling shape certified in
  the red team's benign phases (session 21: strace, git, ruff, tmux, ...).
  The agent waits with ``subprocess.run(timeout=...)``, which in CPython
  polls the child every <= 50 ms: a pattern of the agent's OWN thread.
* ``quiettoolcap`` -- the same, the output captured as well
  (``capture_output=True``, as the red team's ``rt.run_child`` and many agents'
  shell tools do): the agent's thread then blocks in ``select`` until the
  child's pipes close, with no polling.

A name may carry a tag after the scenario (``toolthenspin_split_dev``): the same
scenario recorded again, e.g. by a sensor that counts tool runs apart in the
kernel (session 22: ``Batch.tool_split``).

Syscall records are stripped (as record.py does).  Replay with L1 and L4 (and
L2 for ``execminer``).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent))
sys.path.insert(0, str(HERE))

from record import inject_code, strip_syscalls  # noqa: E402

RECORD_S = 110.0
CHANGE_AT = 50.0
TOOL_S = 12.0

BUILD = """
import shutil, subprocess, sys, tempfile, threading, time
def build(seconds):
    end = time.monotonic() + seconds
    with tempfile.TemporaryDirectory() as d:
        shutil.copytree("/usr/lib/python3.11/email", d + "/email")
        cmd = "import compileall,sys; compileall.compile_dir(sys.argv[1], quiet=1, force=True)"
        while time.monotonic() < end:  # bounded in time: a build step run as child processes
            subprocess.run([sys.executable, "-c", cmd, d + "/email"], capture_output=True, timeout=30)
def spin(seconds, busy=1.0, idle=0.0):
    import hashlib
    end = time.monotonic() + seconds
    h = b"h7"
    while time.monotonic() < end:  # bounded in time
        t = time.monotonic()
        while time.monotonic() - t < busy and time.monotonic() < end:
            h = hashlib.sha256(h).digest()
        if idle:
            time.sleep(idle)
def forked(seconds):
    import os
    pid = os.fork()
    if pid == 0:
        try:
            spin(seconds)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
def execd(seconds):
    code = ("import hashlib,sys,time\\nend=time.monotonic()+float(sys.argv[1])\\nh=b'x'\\n"
            "while time.monotonic()<end: h=hashlib.sha256(h).digest()")
    subprocess.run([sys.executable, "-c", code, str(seconds)], timeout=seconds + 30)
CAPTURE = ARGS["scenario"] == "quiettoolcap"
def sleeper(seconds):
    code = ("import sys,time\\nend=time.monotonic()+float(sys.argv[1])\\n"
            "while time.monotonic()<end: time.sleep(0.003)")
    subprocess.run([sys.executable, "-c", code, str(seconds)], timeout=seconds + 30, capture_output=CAPTURE)
def traced(seconds):
    code = ("import sys,time\\nend=time.monotonic()+float(sys.argv[1])\\n"
            "while time.monotonic()<end: time.sleep(0.003)")
    subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "--", sys.executable, "-c", code,
                    str(seconds)], timeout=seconds + 60, capture_output=CAPTURE)
def later(delay, fn, *a):
    time.sleep(delay)
    fn(*a)
S = ARGS["scenario"]
T = float(ARGS["seconds"])
jobs = []
if S in ("tool", "toolspin", "toolfork"):
    jobs.append((build, (T,)))
if S == "toolminer10":
    jobs.append((build, (8.0,)))
    jobs.append((spin, (float(ARGS["left"]), 0.010, 0.090)))
if S == "toolspin":
    jobs.append((spin, (T,)))
if S == "toolfork":
    jobs.append((forked, (T,)))
if S == "execminer":
    jobs.append((execd, (T,)))
if S == "toolthenspin":
    jobs.append((sleeper, (20.0,)))
    jobs.append((later, (10.0, spin, T)))
if S in ("quiettool", "quiettoolcap"):
    jobs.append((sleeper, (20.0,)))
    jobs.append((later, (25.0, traced, 15.0)))
for fn, a in jobs:
    threading.Thread(target=fn, args=a, daemon=True).start()
"""

SCENARIOS = (
    "tool",
    "toolspin",
    "toolminer10",
    "toolfork",
    "execminer",
    "toolthenspin",
    "quiettool",
    "quiettoolcap",
)


def record(name: str, workroot: Path) -> tuple[Path, int]:
    from h7.demo.runner import Demo

    scenario = name.split("_", 1)[0]
    if scenario not in SCENARIOS:
        raise SystemExit(f"unknown journal {name!r}: scenarios are {', '.join(SCENARIOS)}")
    out = HERE / f"{name}.h7j"
    out.unlink(missing_ok=True)

    class JournalDemo(Demo):
        def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
            if "attach" in args:  # the engine's path, with the journal and a bounded run
                args = [*args, "--journal", str(out), "--duration", f"{RECORD_S:g}s"]
            return super()._spawn(args, log)

    d = JournalDemo(workroot / name, baseline_s=30, benign_s=0, wait_s=0, out=io.StringIO())
    try:
        _, port = d.setup()
        t0 = time.monotonic()
        time.sleep(max(0.0, CHANGE_AT - (time.monotonic() - t0)))
        change_ns = time.monotonic_ns()
        left = RECORD_S - CHANGE_AT - 5
        secs = {"tool": 8.0, "toolthenspin": 10.0}.get(scenario, TOOL_S)
        inject_code(port, BUILD, {"scenario": scenario, "seconds": secs, "left": left})
        if scenario == "tool":
            time.sleep(max(0.0, CHANGE_AT + 30 - (time.monotonic() - t0)))
            inject_code(port, BUILD, {"scenario": "tool", "seconds": 4.0, "left": 0})
        d.sensor.wait(timeout=RECORD_S + 60)
    finally:
        d.stop()
    return out, change_ns


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in sys.argv[1:]:
            p, change_ns = record(name, Path(tmp))
            strip_syscalls(p, change_ns)
            print(f"{p.name}: {p.stat().st_size} bytes", flush=True)


if __name__ == "__main__":
    main()
