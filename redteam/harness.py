"""`make redteam`: every variant of the suite against a live `h7 attach`, with benign phases between.

    python -m redteam.harness [--only NAME,...] [--baseline 30] [--benign 6] [--wait 8]
                              [--workdir DIR] [--out redteam/results/latest.json] [--journal FILE]

Set-up (all real processes, all outside the victims' trees): two loopback
model APIs, a sinkhole, the daemons gap 5 hands commands to (tmux, screen,
dtach, socat, atd), loopback listeners for every egress destination, a
socket broker, and two victim agents -- one in the host PID namespace, one
in its own (``unshare --pid --fork --mount-proc``).  One sensor watches both
(`h7 attach HOSTPID NSPID`).  After the baseline, each variant runs in turn:
a benign phase of normal agent work (must stay silent), then the variant
(injected into a victim through its code tool, or run as its own process,
or entered into the victim's namespaces with nsenter), then a wait for its
certificate.  Certificates are verified with the public key and assigned to
phases by their ts_ns (redteam/report.py has the rules).  Writes the
results JSON and prints the table.  Exit 0 when every phase ran (detection
rates are results, not pass/fail).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import random
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redteam import report
from redteam.rt import ACT_PREFIX, DONE_LINE

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VARIANTS = HERE / "variants"
TIMESCALE = float(os.environ.get("H7_TEST_TIMESCALE", "1"))
#: benign acts have no gap; they interleave with the variants as if they were one
BENIGN_GAP = 99
DAEMON_TOOLS = ("tmux", "screen", "dtach", "socat", "at", "atd", "nsenter", "unshare", "gcc")


def log(msg: str) -> None:
    print(f"[redteam {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the suite
@dataclass
class Variant:
    name: str
    path: Path
    doc: str
    gap: int
    mode: str  # inject | external | nsenter
    target: str  # host | ns
    held_out: bool
    expect: tuple[str, ...]
    #: a benign act (BENIGN = True): real agent work run like a variant; any alert in its phase is false
    benign: bool = False
    #: WARMUP = True: also injected during the baseline (work the agent does routinely, so learnt)
    warmup: bool = False
    #: STAGE = True: ``python variant.py --stage ARGS`` runs at set-up, before the victims start
    #: (a file planted in the workspace before the agent ever ran: a poisoned repository)
    stage: bool = False
    #: the round the variant was written in (round 3: written blind, landed before its first run)
    round: int = 1
    #: PRIME = True: an attack injected once DURING the baseline with ``prime: true`` in its args
    #: (an attacker who acts while the sensor learns; its act proper still comes after the baseline)
    prime: bool = False


def load_variants(directory: Path = VARIANTS) -> list[Variant]:
    """Read each variant's metadata (GAP, MODE, ...) without importing it."""
    out = []
    for p in sorted(directory.glob("*.py")):
        if p.name.startswith("_"):
            continue
        tree = ast.parse(p.read_text(), str(p))
        meta: dict[str, Any] = {}
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                with contextlib.suppress(ValueError):
                    meta[node.targets[0].id] = ast.literal_eval(node.value)
        doc = (ast.get_docstring(tree) or "").splitlines()
        missing = {"GAP", "MODE", "TARGET", "HELD_OUT", "EXPECT"} - meta.keys()
        if missing:
            raise ValueError(f"{p.name}: missing {sorted(missing)}")
        if meta["MODE"] not in ("inject", "external", "nsenter"):
            raise ValueError(f"{p.name}: MODE must be inject, external or nsenter")
        if meta.get("WARMUP") and meta["MODE"] != "inject":
            raise ValueError(f"{p.name}: only an injected variant can be a WARMUP (it runs in the agent)")
        if meta.get("PRIME") and (meta["MODE"] != "inject" or meta.get("BENIGN") or meta.get("WARMUP")):
            raise ValueError(f"{p.name}: PRIME is for injected attacks (a benign routine is a WARMUP)")
        out.append(
            Variant(
                p.stem,
                p,
                doc[0] if doc else "",
                int(meta["GAP"]),
                str(meta["MODE"]),
                str(meta["TARGET"]),
                bool(meta["HELD_OUT"]),
                tuple(meta["EXPECT"]),
                bool(meta.get("BENIGN", False)),
                bool(meta.get("WARMUP", False)),
                bool(meta.get("STAGE", False)),
                int(meta.get("ROUND", 1)),
                bool(meta.get("PRIME", False)),
            )
        )
    return out


def order(variants: list[Variant]) -> list[Variant]:
    """The demo's L1 miner first (later acts move the scheduling profile too), then gaps interleaved.

    Interleaving keeps two acts that the same rate-limit key could fold
    (two copies of one shell) far apart, and is closer to an attacker who
    mixes techniques.
    """
    first = [v for v in variants if v.name == "demo_l1_miner"]
    rest = [v for v in variants if v.name != "demo_l1_miner"]
    by_gap: dict[int, list[Variant]] = {}
    for v in rest:
        by_gap.setdefault(BENIGN_GAP if v.benign else v.gap, []).append(v)
    out = list(first)
    for i in range(max((len(x) for x in by_gap.values()), default=0)):
        for g in sorted(by_gap):
            if i < len(by_gap[g]):
                out.append(by_gap[g][i])
    return out


# ------------------------------------------------------------------ loopback services
class Listeners:
    """TCP and UDP sinks on loopback addresses (ephemeral ports), drained until stopped."""

    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.bytes = 0
        self.socks: list[socket.socket] = []
        self.thread = threading.Thread(target=self._loop, name="listeners", daemon=True)

    def open_pair(self, family: int, ip: str, low: bool = False) -> int:
        """A TCP listener and a UDP socket on one free port of ``ip``; returns the port.

        ``low``: a free port below the ephemeral range instead of an ephemeral one.  L4 keys
        every ephemeral port of an address as ONE destination, and ::1 is the only IPv6
        loopback address: without distinct service ports every IPv6 variant after the first
        would be the same destination, and fold into its certificate.
        """
        rng = random.Random()
        for _ in range(200):
            t = socket.socket(family, socket.SOCK_STREAM)
            try:
                t.bind((ip, rng.randrange(20000, 32000) if low else 0))
            except OSError:
                t.close()
                continue
            port = int(t.getsockname()[1])
            u = socket.socket(family, socket.SOCK_DGRAM)
            try:
                u.bind((ip, port))
            except OSError:
                t.close()
                u.close()
                continue
            t.listen(16)
            for s in (t, u):
                s.setblocking(False)
                self.sel.register(s, selectors.EVENT_READ)
                self.socks.append(s)
            return port
        raise OSError(f"no free port pair on {ip}")

    def _loop(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.2):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                try:
                    if s.type == socket.SOCK_STREAM and s in self.socks:
                        c, _ = s.accept()
                        c.setblocking(False)
                        self.sel.register(c, selectors.EVENT_READ)
                    else:
                        data = s.recv(65536)
                        self.bytes += len(data)
                        if not data and s.type == socket.SOCK_STREAM:
                            self.sel.unregister(s)
                            s.close()
                except OSError:
                    with contextlib.suppress(KeyError, ValueError):
                        self.sel.unregister(s)
                    s.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for key in list(self.sel.get_map().values()):
            with contextlib.suppress(OSError):
                key.fileobj.close()  # type: ignore[union-attr]
        self.sel.close()


class Broker:
    """Connects where asked and passes the connected socket back with SCM_RIGHTS (outside the tree)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(str(path))
        self.srv.listen(4)
        self.srv.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="broker", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                c, _ = self.srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with c, contextlib.suppress(OSError, ValueError):
                c.settimeout(5)
                words = c.recv(256).decode().split()
                from redteam.rt import loopback

                if words and words[0] == "relay":  # a forwarding proxy: pump the rest of the stream
                    self._relay(c, loopback(words[1]), int(words[2]))
                    continue
                ip, port = words
                out = socket.create_connection((loopback(ip), int(port)), timeout=5)
                c.sendmsg(
                    [b"k"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, out.fileno().to_bytes(4, "little"))]
                )
                out.close()

    @staticmethod
    def _relay(c: socket.socket, ip: str, port: int) -> None:
        """Forward what the client sends to ip:port until it closes (at most 10 s, 1 MiB)."""
        end = time.monotonic() + 10
        total = 0
        with socket.create_connection((ip, port), timeout=5) as out:
            c.sendall(b"k")
            while time.monotonic() < end and total < 1 << 20:
                data = c.recv(65536)
                if not data:
                    return
                out.sendall(data)
                total += len(data)

    def close(self) -> None:
        self.stop.set()
        self.srv.close()
        self.thread.join(timeout=5)


# ------------------------------------------------------------------ modes
def mode_of(kernel: dict[str, Any]) -> str:
    """fentry or tracepoint: the one mode of every gap that HAS a fentry mode; ``mixed:a+b`` if they differ.

    ``kernel`` is the sensor's report (``gaps``: gap -> {mode, hooks}; ``hooks``: program
    states).  A gap without a fentry mode (proc_files: the open exits' tracepoints serve both
    modes) runs in tracepoint mode everywhere, so counting it made every vmtest guest run
    "mixed:fentry+tracepoint" (session 10's round-8 guest run) although each gap ran in its most
    capable mode.  Without gaps (an older sensor): fentry if any fentry/fexit/lsm program attached.
    """
    from h7.sensor.sensor import GAPS

    gaps = kernel.get("gaps")
    if isinstance(gaps, dict) and gaps:
        one_mode = {g.name for g in GAPS if not g.fentry}
        modes = sorted(
            {str(g.get("mode")) for n, g in gaps.items() if isinstance(g, dict) and n not in one_mode}
        )
        if modes:
            return modes[0] if len(modes) == 1 else "mixed:" + "+".join(modes)
    secs = [str(h.get("section", "")) for h in kernel.get("hooks") or [] if h.get("state") == "attached"]
    fentry = any(s.split("/")[0] in ("fentry", "fexit", "lsm", "fmod_ret") for s in secs)
    return "fentry" if fentry else "tracepoint"


def gap_line(kernel: dict[str, Any]) -> str:
    """``egress=fentry, tampering=fentry, ...``: the log line's per-gap modes."""
    gaps = kernel.get("gaps") or {}
    return ", ".join(f"{n}={g.get('mode', '?')}" for n, g in sorted(gaps.items()) if isinstance(g, dict))


def victim_lifetime(a: argparse.Namespace, phases: int) -> float:
    """Seconds a victim must live: the longest the run can take, every wait at its bound.

    The victims end on their own (``redteam.victim --duration``, 3600 s by default),
    so that one left behind by a killed harness does not run for ever; but a whole-suite
    run on a loaded host takes longer than an hour (session 12: 265 phases, ~16 s each
    at load 8-14), and both victims exited at 60 min, cleanly, in the middle of it:
    every later act failed or went unseen.  Bound: set-up (doctor, sensor load) and
    the baseline's own bounds, then per variant a benign window, the act's limit, the
    wait, the settle and 15 s of spawning and status reads, all stretched by
    ``H7_TEST_TIMESCALE``; the harness stops the victims itself when it ends.
    """
    per_phase = a.benign + a.act_timeout + a.wait + a.settle + 15.0
    setup = 300.0 + a.baseline + 90.0 + 60.0  # doctor/sensor load, baseline + its slack, warm-ups
    return max(3600.0, (setup + phases * per_phase + a.benign) * TIMESCALE)


# ------------------------------------------------------------------ the harness
class Harness:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.dir: Path = a.workdir.resolve()
        self.py = sys.executable
        self.procs: list[subprocess.Popen[bytes]] = []
        self.daemon_pids: list[int] = []
        self.cleanups: list[Any] = []
        self.seen: set[Path] = set()
        self.certs: list[report.Cert] = []
        self.stage_failed: dict[str, str] = {}  # variant -> why its staged helper did not start
        self.mode = "unknown"
        #: the sensor's own report of what it loaded: {"gaps": {gap: {mode, hooks}}, "hooks": [...]}
        self.kernel: dict[str, Any] = {}
        self.env = dict(
            os.environ,
            PYTHONPATH=f"{ROOT}:{os.environ.get('PYTHONPATH', '')}".rstrip(":"),
            SHELL="/bin/sh",
            PYTHONDONTWRITEBYTECODE="1",
        )

    # ---------------------------------------------------------- processes
    def spawn(self, args: list[str], logname: str, **kw: Any) -> subprocess.Popen[bytes]:
        f = open(self.dir / logname, "ab")  # noqa: SIM115 - lives as long as the process
        p = subprocess.Popen(
            args, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, env=self.env, **kw
        )
        self.procs.append(p)
        return p

    def wait_for(self, pred: Any, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout * TIMESCALE
        while time.monotonic() < end:
            if pred():
                return
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for {what}")

    def pids_with(self, needle: str) -> list[int]:
        """Host pids whose command line contains ``needle`` (our daemons, found by their socket path)."""
        out = []
        for e in os.listdir("/proc"):
            if not e.isdigit() or int(e) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if needle in Path(f"/proc/{e}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace"
                ):
                    out.append(int(e))
        return out

    # ---------------------------------------------------------- set-up
    def build_native(self) -> None:
        bindir = self.dir / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        src = HERE / "native" / "rt.c"
        self.native_so = bindir / "librt_h7.so"
        self.rt_uring = bindir / "rt_uring"
        for extra, out in ((["-fPIC", "-shared"], self.native_so), (["-DRT_MAIN"], self.rt_uring)):
            subprocess.run(["gcc", "-O2", "-Wall", "-Werror", *extra, "-o", str(out), str(src)], check=True)

    def start_daemons(self) -> dict[str, str]:
        d: dict[str, str] = {}
        run = self.dir / "daemons"
        run.mkdir(parents=True, exist_ok=True)
        os.chmod(run, 0o700)
        # tmux server with one session, "h7rt"
        d["tmux_sock"] = str(run / "tmux.sock")
        subprocess.run(
            ["tmux", "-S", d["tmux_sock"], "new-session", "-d", "-s", "h7rt", "/bin/sh"],
            check=True,
            env=self.env,
            timeout=30,
        )
        self.cleanups.append(
            lambda: subprocess.run(
                ["tmux", "-S", d["tmux_sock"], "kill-server"], capture_output=True, timeout=10, check=False
            )
        )
        d["tmux_pane_tty"] = subprocess.run(
            ["tmux", "-S", d["tmux_sock"], "display-message", "-p", "-t", "h7rt", "#{pane_tty}"],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=False,
        ).stdout.strip()
        # GNU screen session "h7rt" in a private socket dir
        d["screendir"] = str(run / "screen")
        os.makedirs(d["screendir"], mode=0o700, exist_ok=True)
        senv = dict(self.env, SCREENDIR=d["screendir"])
        subprocess.run(["screen", "-dmS", "h7rt", "/bin/sh"], check=True, env=senv, timeout=30)
        self.cleanups.append(
            lambda: subprocess.run(
                ["screen", "-S", "h7rt", "-X", "quit"], env=senv, capture_output=True, timeout=10, check=False
            )
        )
        # dtach session running a shell
        d["dtach_sock"] = str(run / "dtach.sock")
        subprocess.run(["dtach", "-n", d["dtach_sock"], "/bin/sh"], check=True, env=self.env, timeout=30)
        # socat: one shell per connection on a unix socket
        d["socat_sock"] = str(run / "socat.sock")
        self.spawn(["socat", f"UNIX-LISTEN:{d['socat_sock']},fork", "EXEC:/bin/sh"], "socat.log")
        # atd, unless one already runs
        if not any(self._comm(p) == "atd" for p in self._pids()):
            subprocess.run(["atd"], check=False, env=self.env, timeout=30)
            # atd daemonises: the pid to stop at the end is the atd that exists now and did not before
            found: list[int] = []

            def started() -> bool:
                found[:] = [p for p in self._pids() if self._comm(p) == "atd"]
                return bool(found)

            self.wait_for(started, 10, "atd")
            self.daemon_pids += found
        self.wait_for(
            lambda: all(os.path.exists(d[k]) for k in ("tmux_sock", "dtach_sock", "socat_sock")),
            30,
            "the daemons' sockets",
        )
        self.daemon_pids += self.pids_with(d["dtach_sock"])
        return d

    @staticmethod
    def _pids() -> list[int]:
        return [int(e) for e in os.listdir("/proc") if e.isdigit()]

    @staticmethod
    def _comm(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return ""

    def start_model_api(self, name: str) -> int:
        pf = self.dir / f"{name}.port"
        pf.unlink(missing_ok=True)
        self.spawn(
            [self.py, "-m", "h7.demo.model_api", "--port-file", str(pf), "--duration", "7200"], f"{name}.log"
        )
        self.wait_for(lambda: pf.exists() and pf.read_text().strip(), 60, f"model API {name}")
        return int(pf.read_text())

    def ns_host_pid(self, pid_file: Path) -> int:
        """Host pid of the namespaced victim: the process whose command line names its pid file."""
        found: list[int] = []

        def look() -> bool:
            found[:] = [
                p
                for p in self.pids_with(f"--pid-file {pid_file}")
                if self._argv(p)[1:3] == ["-m", "redteam.victim"] and self._nspid(p)[-1] != p
            ]
            return bool(found) and pid_file.exists()

        self.wait_for(look, 60, "the namespaced victim")
        return found[0]

    @staticmethod
    def _heap(pid: int) -> int:
        from redteam.rt import writable_region

        return writable_region(pid)[0]

    @staticmethod
    def _argv(pid: int) -> list[str]:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            return []

    @staticmethod
    def _nspid(pid: int) -> list[int]:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
        return [pid]

    def setup(self) -> None:
        from h7.cal import keygen

        if self.dir.exists():
            for sub in ("cal", "spool", "work", "work-ns", "markers", "scratch", "daemons"):
                shutil.rmtree(self.dir / sub, ignore_errors=True)
            for f in [*self.dir.glob("*.log"), *self.dir.glob("*.out")]:
                f.unlink()
            for name in ("status.json", "alerts.jsonl", "alerts.sock"):
                (self.dir / name).unlink(missing_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        (self.dir / "markers").mkdir()
        (self.dir / "scratch").mkdir()
        keys = self.dir / "keys"
        if not (keys / "h7.key").exists():
            keygen(keys)
        self.pub = keys / "h7.pub"
        self.build_native()
        self.daemons = self.start_daemons()
        self.listeners = Listeners()
        self.broker = Broker(self.dir / "daemons" / "broker.sock")
        self.cleanups.append(self.broker.close)
        self.api = self.start_model_api("model-host")
        self.api_ns = self.start_model_api("model-ns")
        sock = self.dir / "alerts.sock"
        cfg = self.dir / "h7.toml"
        cfg.write_text(
            f'[sinkhole]\nsocket = "{sock}"\npubkey = "{self.pub}"\n[[output]]\ntype = "jsonl"\n'
            f'path = "{self.dir / "alerts.jsonl"}"\n'
            f'format = "h7"\n[detect]\nl4_allow = ["127.0.0.1:{self.api}", "127.0.0.1:{self.api_ns}"]\n'
            # L2's /proc search for a hand-off listener's holder (dtach binds, then forks) has a
            # 50 ms budget on the urgent path; under software emulation (vmtest guests,
            # H7_TEST_TIMESCALE > 1) every /proc read is that many times slower.
            + (f"[detect.l2]\nhandoff_proc_budget_ms = {50.0 * TIMESCALE}\n" if TIMESCALE > 1 else "")
        )
        self.spawn([self.py, "-m", "h7", "sinkhole", "--config", str(cfg)], "sinkhole.log")
        self.wait_for(sock.exists, 60, "the sinkhole")
        # a tool in the workspace before the agent starts (g4_agent_modified_binary replaces it)
        tools = self.dir / "work" / "tools"
        tools.mkdir(parents=True, exist_ok=True)
        self.helper = tools / "helper"
        shutil.copy2("/usr/bin/true", self.helper)
        for v in getattr(self, "variants", []):
            if v.stage:  # files planted before the agent ever ran
                sargs = {"work": str(self.dir / "work"), "work_ns": str(self.dir / "work-ns")}
                try:
                    subprocess.run(
                        [self.py, str(v.path), "--stage", json.dumps(sargs)],
                        check=True,
                        capture_output=True,
                        text=True,
                        timeout=60 * TIMESCALE,
                        env=self.env,
                        cwd=str(ROOT),
                    )
                except subprocess.SubprocessError as e:
                    # One helper that cannot start on this kernel (round 6's UDP-Lite sink in the 7.3.4
                    # guest: no UDP-Lite socket there) drops that variant, recorded, not the whole run.
                    err = getattr(e, "stderr", None) or ""
                    last = err.strip().splitlines()[-1:] if isinstance(err, str) else []
                    self.stage_failed[v.name] = (last[0] if last else str(e))[:300]
                    log(f"stage FAILED {v.name}: {self.stage_failed[v.name]} (variant not run)")
                    continue
                log(f"staged {v.name}")
                if "def unstage(" in v.path.read_text():  # what the stage leaves behind (a netns...)
                    self.cleanups.append(
                        lambda v=v, sargs=sargs: subprocess.run(
                            [self.py, str(v.path), "--unstage", json.dumps(sargs)],
                            timeout=60,
                            env=self.env,
                            cwd=str(ROOT),
                            check=False,
                        )
                    )
        # the victims
        self.pid_file = self.dir / "victim.pid"
        self.pid_file_ns = self.dir / "victim-ns.pid"
        for pf in (self.pid_file, self.pid_file_ns):
            pf.unlink(missing_ok=True)
        lifetime = f"{victim_lifetime(self.a, len(self.variants)):.0f}"
        victim = [self.py, "-m", "redteam.victim", "--duration", lifetime]
        self.host_log = self.dir / "victim-host.log"
        self.ns_log = self.dir / "victim-ns.log"
        self.victim = self.spawn(
            [
                *victim,
                "--api",
                f"127.0.0.1:{self.api}",
                "--workdir",
                str(self.dir / "work"),
                "--pid-file",
                str(self.pid_file),
            ],
            self.host_log.name,
            cwd=str(ROOT),
        )
        inner = " ".join(
            [
                *victim,
                "--api",
                f"127.0.0.1:{self.api_ns}",
                "--workdir",
                str(self.dir / "work-ns"),
                "--pid-file",
                str(self.pid_file_ns),
                "--seed",
                "2",
            ]
        )
        self.victim_ns = self.spawn(
            ["unshare", "--pid", "--fork", "--mount-proc", "--", "/bin/sh", "-c", f"{inner} & wait"],
            self.ns_log.name,
            cwd=str(ROOT),
        )
        self.wait_for(self.pid_file.exists, 60, "the host victim")
        self.host_pid = self.victim.pid
        self.ns_pid_host = self.ns_host_pid(self.pid_file_ns)
        self.ns_pid_inner = self._nspid(self.ns_pid_host)[-1]
        # what gap 2/3 variants need from the victims, read now, before the sensor attaches: an
        # address in each one's heap and its held socket's fd (so an act is not preceded by a
        # /proc/PID/maps or /proc/PID/fd read that would be detected in its place)
        self.addr = {pid: self._heap(pid) for pid in (self.host_pid, self.ns_pid_host)}
        self.sock_fd = {
            self.host_pid: int(self.pid_file.read_text().split()[1]),
            self.ns_pid_host: int(self.pid_file_ns.read_text().split()[1]),
        }
        log(
            f"victims: host pid {self.host_pid}; namespaced pid {self.ns_pid_host} (pid {self.ns_pid_inner} "
            f"in its namespace)"
        )
        self.sensor_started = time.time()
        self.sensor = self.spawn(
            [
                self.py,
                "-m",
                "h7",
                "attach",
                str(self.host_pid),
                str(self.ns_pid_host),
                "--baseline",
                f"{self.a.baseline:g}s",
                "--config",
                str(cfg),
                "--key",
                str(keys / "h7.key"),
                "--cal-dir",
                str(self.dir / "cal"),
                "--sink",
                str(sock),
                "--spool-dir",
                str(self.dir / "spool"),
                "--status-file",
                str(self.dir / "status.json"),
                *(["--journal", str(self.a.journal.resolve())] if self.a.journal else []),
            ],
            "sensor.log",
        )

    def read_modes(self) -> tuple[str, dict[str, Any]]:
        """The run's mode and per-gap modes, from the sensor's own status file (bounded wait).

        The sensor writes which mode each gap runs in and which programs attached (``gaps``,
        ``hooks``: what `h7 doctor` reports) from the programs it loaded for this run.  The
        harness used to run `h7 doctor --json` before the sensor, a second load and verification
        of every program: 5-8 minutes of a 1-vCPU TCG guest on a loaded host (session 11), for
        an answer the sensor gives anyway.
        """
        end = time.monotonic() + 300 * TIMESCALE  # the sensor's load: minutes under TCG
        while time.monotonic() < end:
            st = self.status()
            fresh = st and (self.dir / "status.json").stat().st_mtime >= self.sensor_started
            if fresh and isinstance(st.get("gaps"), dict):
                kernel = {"gaps": st["gaps"], "hooks": st.get("hooks") or []}
                return mode_of(kernel), kernel
            if self.sensor.poll() is not None:
                raise RuntimeError(f"the sensor exited (rc {self.sensor.returncode}); see sensor.log")
            time.sleep(0.2)
        raise RuntimeError("the sensor wrote no status with its gap modes (see sensor.log)")

    # ---------------------------------------------------------- certificates
    def poll_certs(self) -> None:
        from h7.cal import load_public_key, verify_file
        from h7.errors import H7Error

        cal = self.dir / "cal"
        if not cal.is_dir():
            return
        pub = load_public_key(self.pub)
        for p in sorted(cal.glob("*.cal")):
            if p in self.seen:
                continue
            self.seen.add(p)
            try:
                body = verify_file(p, pub).body
            except H7Error as e:
                log(f"!! {p.name}: signature check FAILED: {e}")
                continue
            if body.get("action") != "ALERT_EMITTED":  # sensor lifecycle records share the chain
                continue
            c = report.Cert.from_body(p.name, body)
            self.certs.append(c)
            log(f"   alert {c.channel} {c.code} agent {c.agent_pid} {p.name}")

    def status(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.dir / "status.json").read_text()))
        except (OSError, ValueError):
            return {}

    def folding(self, after: float) -> dict[str, dict[str, int]]:
        """The engine's folded-verdict counters per agent pid and code, from a status written after ``after``.

        The status file is rewritten every batch (1 s): waiting (bounded) for one newer than the
        phase's end makes its verdicts count in that phase, not the next.
        """
        end = time.monotonic() + 3 * TIMESCALE
        while time.monotonic() < end:
            with contextlib.suppress(OSError):
                if (self.dir / "status.json").stat().st_mtime > after:
                    break
            time.sleep(0.05)
        out: dict[str, dict[str, int]] = {}
        for agent_id, a in self.status().get("engine", {}).get("agents", {}).items():
            f = a.get("folding") or {}
            out[str(report.agent_pid_of(agent_id))] = {
                str(k): int(v) for k, v in (f.get("folded_by_code") or {}).items()
            }
        return out

    @staticmethod
    def fold_delta(a: dict[str, dict[str, int]], b: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for pid, codes in b.items():
            d = {c: n - a.get(pid, {}).get(c, 0) for c, n in codes.items()}
            d = {c: n for c, n in d.items() if n > 0}
            if d:
                out[pid] = d
        return out

    def warmups(self, variants: list[Variant]) -> None:
        """Inject the routine work (WARMUP variants) into its victim during the baseline, so it is learnt.

        Waits (bounded) until the sensor reports its baseline phase, then runs each once with
        ``warmup: true`` in its args and waits for its DONE line.  PRIME variants (attacks that
        prepare during the baseline) run here too, with ``prime: true`` instead.
        """
        if not variants:
            return
        end = time.monotonic() + 60 * TIMESCALE
        while time.monotonic() < end:
            st = self.status()
            fresh = st and (self.dir / "status.json").stat().st_mtime >= self.sensor_started
            if fresh and st.get("engine", {}).get("phase") in ("baseline", "monitoring"):
                break
            if self.sensor.poll() is not None:
                raise RuntimeError(f"the sensor exited (rc {self.sensor.returncode}); see sensor.log")
            time.sleep(0.2)
        time.sleep(3)
        for v in variants:
            args = {**self.variant_args(v, 0), "prime" if v.prime else "warmup": True}
            logp = self.host_log if v.target == "host" else self.ns_log
            offset = logp.stat().st_size
            self.inject(self.api if v.target == "host" else self.api_ns, v, args)
            done = False
            deadline = time.monotonic() + self.a.act_timeout * TIMESCALE
            while time.monotonic() < deadline and not done:
                new, offset = self.read_acts(logp, offset)
                done = any(a.get("done") for a in new)
                for a in new:
                    if "act_ns" in a:
                        what = "prime" if v.prime else "warm-up"
                        log(f"   {what} {v.name}: {'ok' if a.get('ok') else 'FAILED'}: {a.get('detail')}")
                self.poll_certs()
                time.sleep(0.05)
        log(f"warm-ups done ({len(variants)}), status phase {self.status().get('engine', {}).get('phase')}")

    def wait_monitoring(self) -> None:
        end = time.monotonic() + (self.a.baseline + 90) * TIMESCALE
        while time.monotonic() < end:
            st = self.status()
            fresh = st and (self.dir / "status.json").stat().st_mtime >= self.sensor_started
            if fresh and st.get("engine", {}).get("phase") == "monitoring":
                return
            if self.sensor.poll() is not None:
                raise RuntimeError(
                    f"the sensor exited (rc {self.sensor.returncode}) during the baseline; "
                    f"see {self.dir / 'sensor.log'}"
                )
            self.poll_certs()
            time.sleep(0.2)
        raise RuntimeError("the baseline did not complete")

    # ---------------------------------------------------------- running variants
    def open_destinations(self, n: int) -> None:
        """One new loopback destination (v4 and v6, ephemeral ports) per variant, opened before the run."""
        self.dests = []
        for i in range(n):
            ip = f"127.0.{1 + i // 200}.{20 + i % 200}"
            port = self.listeners.open_pair(socket.AF_INET, ip)
            port6 = self.listeners.open_pair(socket.AF_INET6, "::1", low=True)
            self.dests.append({"ip": ip, "port": port, "ip6": "::1", "port6": port6})

    def variant_args(self, v: Variant, i: int) -> dict[str, Any]:
        scratch = self.dir / "scratch" / v.name
        target_pid = (
            self.ns_pid_inner
            if (v.target == "ns" and v.mode == "nsenter")
            else (self.host_pid if v.target == "host" else self.ns_pid_host)
        )
        return {
            "native_so": str(self.native_so),
            "rt_uring": str(self.rt_uring),
            "dest": self.dests[i],
            "known": {"ip": "127.0.0.1", "port": self.api if v.target == "host" else self.api_ns},
            "pid": target_pid,
            "addr": self.addr[self.host_pid if v.target == "host" else self.ns_pid_host],
            "sock_fd": self.sock_fd[self.host_pid if v.target == "host" else self.ns_pid_host],
            "scratch": str(scratch),
            "helper": str(self.helper),
            "marker": str(self.dir / "markers" / v.name),
            "daemons": self.daemons,
            "broker_sock": str(self.broker.path),
            "work": str(self.dir / ("work" if v.target == "host" else "work-ns")),
            "host_pid_of_target": self.host_pid if v.target == "host" else self.ns_pid_host,
            "ns_pid_of_target": self.ns_pid_inner if v.target == "ns" else self.host_pid,
            "warmup": False,
        }

    def inject(self, port: int, v: Variant, args: dict[str, Any]) -> None:
        body = json.dumps(
            {"tool": "python", "name": f"{v.name}.py", "code": v.path.read_text(), "args": args}
        )
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/inject", body.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    @staticmethod
    def read_acts(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return [], offset
        end = data.rfind(b"\n") + 1
        acts = []
        for line in data[:end].decode(errors="replace").splitlines():
            if line.strip() == DONE_LINE:
                acts.append({"done": True})
            elif line.startswith(ACT_PREFIX):
                with contextlib.suppress(ValueError):
                    acts.append(json.loads(line[len(ACT_PREFIX) :]))
        return acts, offset + end

    def run_variant(self, v: Variant, i: int) -> report.Phase:
        args = self.variant_args(v, i)
        target = self.host_pid if v.target == "host" else self.ns_pid_host
        kind = "benign-act" if v.benign else "variant"
        ph = report.Phase(v.name, kind, time.time_ns(), 0, v.gap, v.held_out, v.expect, target, rnd=v.round)
        log(
            f"{'benign act' if v.benign else 'variant'} {v.name} (gap {v.gap}"
            f"{', held-out' if v.held_out else ''}, {v.mode}): {v.doc}"
        )
        acts: list[dict[str, Any]] = []
        act_deadline = time.monotonic() + self.a.act_timeout * TIMESCALE
        if v.mode == "inject":
            logp = self.host_log if v.target == "host" else self.ns_log
            offset = logp.stat().st_size
            self.inject(self.api if v.target == "host" else self.api_ns, v, args)
            while time.monotonic() < act_deadline and not [a for a in acts if "act_ns" in a]:
                new, offset = self.read_acts(logp, offset)
                acts += new
                self.poll_certs()
                time.sleep(0.05)
        else:
            cmd = [self.py, str(v.path), json.dumps(args)]
            if v.mode == "nsenter":
                cmd = ["nsenter", "--target", str(self.ns_pid_host), "--pid", "--mount", "--", *cmd]
            out = self.dir / f"external-{v.name}.out"
            with open(out, "wb") as f:
                p = subprocess.Popen(
                    cmd,
                    stdout=f,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=str(ROOT),
                    start_new_session=True,
                )
                while time.monotonic() < act_deadline and p.poll() is None:
                    self.poll_certs()
                    time.sleep(0.05)
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
            acts, _ = self.read_acts(out, 0)
            if not acts:
                tail = out.read_text(errors="replace")[-300:].strip().replace("\n", " | ")
                acts = [{"act_ns": time.time_ns(), "ok": False, "detail": f"no act reported: {tail}"}]
        done = any(a.get("done") for a in acts)
        acts = [a for a in acts if "act_ns" in a]
        if acts:
            ph.act_ns, ph.act_ok, ph.act_detail = (
                int(acts[0]["act_ns"]),
                bool(acts[0]["ok"]),
                acts[0]["detail"],
            )
        else:
            ph.act_ok, ph.act_detail = False, "no act reported in time (see the victim's log)"
        log(f"   act {'ok' if ph.act_ok else 'FAILED'}: {ph.act_detail}")
        # wait for an expected alert, then let the tail of the act settle
        end = time.monotonic() + self.a.wait * TIMESCALE
        while time.monotonic() < end and ph.act_ok:
            self.poll_certs()
            if any(report.expected(c, v.expect, target) and c.ts_ns >= ph.start_ns for c in self.certs):
                break
            if self.sensor.poll() is not None:
                raise RuntimeError(f"the sensor exited (rc {self.sensor.returncode}); see sensor.log")
            time.sleep(0.05)
        if v.mode == "inject" and not done:  # the phase lasts until the injected code has returned
            while time.monotonic() < act_deadline and not done:
                new, offset = self.read_acts(logp, offset)
                done = any(a.get("done") for a in new)
                self.poll_certs()
                time.sleep(0.05)
        time.sleep(self.a.settle * TIMESCALE)
        self.poll_certs()
        ph.end_ns = time.time_ns()
        return ph

    def benign(self, name: str) -> report.Phase:
        ph = report.Phase(name, "benign", time.time_ns(), 0)
        end = time.monotonic() + self.a.benign
        while time.monotonic() < end:
            self.poll_certs()
            time.sleep(0.1)
        ph.end_ns = time.time_ns()
        return ph

    def victims_gone(self) -> str:
        """Which victim has exited ("" when both live): the host one is our child, the other sh's."""
        if self.victim.poll() is not None:
            return f"the host victim (pid {self.host_pid}, rc {self.victim.returncode})"
        try:
            state = Path(f"/proc/{self.ns_pid_host}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            state = "gone"
        if state in ("gone", "Z", "X"):
            return f"the namespaced victim (pid {self.ns_pid_host})"
        return ""

    def run(self, variants: list[Variant]) -> dict[str, Any]:
        t0 = time.monotonic()
        # the tree the run starts from: read now, not at the end (a checkout shared with a
        # guest over 9p, or a worktree someone edits meanwhile, moves under a long run)
        git = _git_rev()
        self.variants = variants
        self.setup()
        variants = [v for v in variants if v.name not in self.stage_failed]
        self.open_destinations(len(variants))
        self.listeners.thread.start()
        self.cleanups.append(self.listeners.close)
        self.mode, self.kernel = self.read_modes()
        log(f"mode {self.mode} ({gap_line(self.kernel)}); baseline {self.a.baseline:g} s on both victims")
        self.warmups([v for v in variants if v.warmup or v.prime])
        self.wait_monitoring()
        stray_start = time.time_ns()
        log("baseline complete")
        phases: list[report.Phase] = []
        snap = self.folding(0)

        def close(ph: report.Phase) -> None:
            nonlocal snap
            new = self.folding(ph.end_ns / 1e9)
            ph.folded = self.fold_delta(snap, new)
            snap = new
            phases.append(ph)

        max_s = float(getattr(self.a, "max_seconds", 0) or 0)
        not_started: list[str] = []
        stopped = ""
        for i, v in enumerate(variants):
            if max_s and time.monotonic() - t0 > max_s:
                # a guest slot ends at a fixed time: stop starting phases, keep what ran
                not_started = [x.name for x in variants[i:]]
                log(f"--max-seconds {max_s:g} reached: {len(not_started)} variant(s) not started")
                break
            gone = self.victims_gone()
            if gone:
                # every later act would fail or go unseen: keep what ran, name the rest
                not_started = [x.name for x in variants[i:]]
                log(f"{gone} exited: {len(not_started)} variant(s) not started")
                stopped = f"{gone} exited"
                break
            close(self.benign(f"benign-{i:02d}"))
            close(self.run_variant(v, i))
        close(self.benign(f"benign-{len(phases) // 2:02d}"))
        time.sleep(1.0)
        self.poll_certs()
        stray = report.assign(phases, [c for c in self.certs if c.ts_ns >= stray_start])
        before = [c for c in self.certs if c.ts_ns < stray_start]
        rows = [report.verdict(p) for p in phases if p.kind == "variant"]
        warm = [v.name for v in variants if v.warmup]
        primed = [v.name for v in variants if v.prime]
        return {
            "mode": self.mode,
            "kernel": os.uname().release,
            "git": git,
            "started": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - (time.monotonic() - t0))
            ),
            "seconds": round(time.monotonic() - t0, 1),
            "settings": {
                "baseline_s": self.a.baseline,
                "benign_s": self.a.benign,
                "wait_s": self.a.wait,
                "settle_s": self.a.settle,
                "timescale": TIMESCALE,
                "warmups": warm,
                "primes": primed,
            },
            "variants": rows,
            "totals": report.totals(rows),
            "benign": report.benign_summary(phases),
            "baseline_alerts": [c.__dict__ for c in before],
            "stray_alerts": [c.__dict__ for c in stray],
            # per gap: its mode and hooks, as the sensor of this run reported them (its status file;
            # before session 12 a separate `h7 doctor --json` filled "doctor_gaps"/"doctor_hooks")
            "gap_modes": self.kernel.get("gaps", {}),
            "hooks": self.kernel.get("hooks", []),
            "listener_bytes": self.listeners.bytes,
            "not_started": not_started,
            "stopped": stopped,
            "stage_failed": self.stage_failed,
            # the raw material, so the table can be recomputed (python -m redteam.report --recompute)
            "phases": [
                {
                    **{k: v for k, v in p.__dict__.items() if k != "certs"},
                    "certs": [c.__dict__ for c in p.certs],
                }
                for p in phases
            ],
        }

    def stop(self) -> None:
        for fn in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                fn()
        for p in reversed(self.procs):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        for pid in self.daemon_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        # atd leaves SIGTERM for its next wake-up (it may sleep an hour): SIGKILL what is left
        end = time.monotonic() + 3
        while time.monotonic() < end and any(os.path.exists(f"/proc/{p}") for p in self.daemon_pids):
            time.sleep(0.1)
        for pid in self.daemon_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _git_rev() -> str:
    r = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return r.stdout.strip() or "?"


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    ap.add_argument("--skip-held-out", action="store_true")
    ap.add_argument("--round", default="", help="only these rounds, comma-separated (e.g. 4,5)")
    ap.add_argument("--baseline", type=float, default=30.0, help="baseline seconds (default 30)")
    ap.add_argument("--benign", type=float, default=8.0, help="benign seconds before each variant")
    ap.add_argument("--wait", type=float, default=8.0, help="max seconds to wait for a variant's certificate")
    ap.add_argument(
        "--settle", type=float, default=1.5, help="seconds after the certificate before moving on"
    )
    ap.add_argument("--act-timeout", type=float, default=60.0, help="max seconds for a variant to act")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=0.0,
        help="start no variant after this many seconds of the run (0: no limit); the rest is listed "
        "as not_started in the results (a guest slot that ends at a fixed time)",
    )
    ap.add_argument("--workdir", type=Path, default=Path("/var/tmp/h7-redteam"))
    ap.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    ap.add_argument(
        "--journal",
        type=Path,
        default=None,
        help="also record the sensor's batches to this journal (h7 attach --journal), so a certificate "
        "can be explained afterwards by replaying what the sensor judged (h7 replay)",
    )
    ap.add_argument("--list", action="store_true", help="list the suite and exit")
    a = ap.parse_args(argv)
    variants = order(load_variants())
    if a.only:
        names = {n.strip() for n in a.only.split(",") if n.strip()}
        unknown = names - {v.name for v in variants}
        if unknown:
            print(f"redteam: error: unknown variant(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        variants = [v for v in variants if v.name in names]
    if a.round:
        try:
            rounds = {int(x) for x in a.round.split(",") if x.strip()}
        except ValueError:
            print(f"redteam: error: --round takes round numbers, not {a.round!r}", file=sys.stderr)
            return 2
        variants = [v for v in variants if v.round in rounds]
    if a.skip_held_out:
        variants = [v for v in variants if not v.held_out]
    if a.list:
        for v in variants:
            print(
                f"{v.name:30} gap {v.gap} {v.mode:8} {v.target:4} "
                f"{'held-out' if v.held_out else '':8} {v.doc}"
            )
        return 0
    if os.geteuid() != 0:
        print("redteam: error: needs root (BPF, namespaces, ptrace)", file=sys.stderr)
        return 2
    missing = [t for t in DAEMON_TOOLS if shutil.which(t) is None]
    if missing:
        print(
            f"redteam: error: missing tools: {', '.join(missing)} (make redteam installs them)",
            file=sys.stderr,
        )
        return 2
    h = Harness(a)
    # SIGTERM (a CI timeout, an operator's kill) ends the run through h.stop() as an error does:
    # killed outright it left the sensor, both victims and every staged daemon running (a run
    # started with `&` ignores SIGINT, so SIGTERM is what stops it)
    signal.signal(signal.SIGTERM, _terminated)
    try:
        result = h.run(variants)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        print(f"redteam: error: {e}", file=sys.stderr)
        return 1
    finally:
        h.stop()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(report.dumps(result))
    os.replace(tmp, a.out)
    print(report.render(result))
    print(f"\nresults: {a.out}; certificates and logs in {h.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
