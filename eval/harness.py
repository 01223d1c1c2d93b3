"""Run one eval stack end to end: a real agent, `h7 attach`, a benign soak, the attack suite.

Per stack: local sites + the scripted model API + a sinkhole (real
processes), the agent in its own environment, then `h7 attach` on the
agent's pid with a 30 s baseline (through eval/attach_scored.py, which also
records every batch's per-channel divergence), a benign soak, and the attack
suite.  Every certificate is verified with the public key.  Writes
eval/results/<stack>.json with everything the report needs.

The sensor also keeps a full journal of the run (``h7 attach --journal``:
every batch it judged, syscalls included) under
``--journal-dir/<commit>/<stack>.h7j`` with the harness's marks beside it
(``<stack>.marks.json``), outside git: a later detector change can be shown
on the very runs a table was measured on, with ``h7 replay``.

Runs under the sensor's venv (it imports h7 to verify certificates); the
agents never do.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from attacks import EXPECTED, SUITE, Attack, external, steps  # noqa: E402
from corpus import STACKS, Stack  # noqa: E402
from metrics import dumps, judge_of  # noqa: E402

from h7.procgroup import poll_until, spawn_logged, stop_groups  # noqa: E402

ENVS = HERE / ".envs"
START_TIMEOUT_S = 120.0
LOAD_EVERY_S = 15.0


BY_NAME = {s.name: s for s in STACKS}


class Run:
    def __init__(
        self,
        stack: Stack,
        rundir: Path,
        baseline_s: float,
        soak_s: float,
        wait_s: float,
        seed: int,
        quiet_max_s: float = 90.0,
        journal: Path | None = None,
    ) -> None:
        self.stack = stack
        self.dir = rundir
        self.baseline_s = baseline_s
        self.soak_s = soak_s
        self.wait_s = wait_s
        self.seed = seed
        self.procs: list[subprocess.Popen[bytes]] = []
        self.seen: set[str] = set()
        self.certs: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []
        self.phase = "setup"
        self.t0 = time.time()
        self.marks: dict[str, float] = {}
        self.h7_commit = h7_commit()  # at the start: the tree may move while a long run goes on
        self.main_commit, self.matches_main = main_commit()
        self.tree_commit = run_commit()  # the checkout the harness and sensor run from
        self.attack_end: dict[str, float] = {}
        self.batch_s, self.fold_gap_s = 1.0, 0.0
        self.quiet_max_s = quiet_max_s
        self.load: list[dict[str, Any]] = []
        self._load_at = -LOAD_EVERY_S
        self._cpu: tuple[int, int] | None = None
        self.journal = journal

    def say(self, text: str) -> None:
        print(f"[{self.stack.name} {time.time() - self.t0:7.1f}s] {text}", flush=True)

    def spawn(self, args: list[str], log: str, **kw: Any) -> subprocess.Popen[bytes]:
        p = spawn_logged(args, self.dir / log, **kw)
        self.procs.append(p)
        return p

    def wait_for(self, pred: Any, timeout: float, what: str) -> None:
        if not poll_until(pred, timeout, 0.1):
            raise RuntimeError(f"eval: timed out waiting for {what}")

    # ---------------------------------------------------------------- set-up
    def workspace(self) -> Path:
        work = self.dir / "work"
        (work / "docs").mkdir(parents=True)
        (work / "notes.md").write_text("# Project notes\n\nTODO: check the API docs\nTODO: update summary\n")
        (work / "todo.txt").write_text("- review\n- ship\n")
        for i in range(5):
            (work / "docs" / f"guide-{i}.md").write_text(
                f"# Guide {i}\n\n" + "Some documentation text. " * (20 * (i + 1))
            )
        git = ["git", "-c", "user.name=eval", "-c", "user.email=eval@localhost"]
        subprocess.run([*git, "init", "-q"], cwd=work, check=True)
        subprocess.run([*git, "add", "-A"], cwd=work, check=True)
        subprocess.run([*git, "commit", "-qm", "initial"], cwd=work, check=True)
        return work

    def setup(self) -> None:
        from h7.cal import keygen

        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        os.chmod(self.dir, 0o700)
        keygen(self.dir / "keys")
        self.key, self.pub = self.dir / "keys" / "h7.key", self.dir / "keys" / "h7.pub"
        work = self.workspace()
        py = sys.executable
        sites_file = self.dir / "sites.json"
        self.spawn([py, str(HERE / "sites.py"), "--port-file", str(sites_file)], "sites.log")
        self.wait_for(sites_file.exists, START_TIMEOUT_S, "the local sites")
        self.sites = json.loads(sites_file.read_text())
        port_file = self.dir / "model.port"
        files = ["notes.md", "todo.txt", *[f"docs/guide-{i}.md" for i in range(5)]]
        self.spawn(
            [
                py,
                str(HERE / "model_api.py"),
                "--port-file",
                str(port_file),
                "--seed",
                str(self.seed),
                *[x for u in self.sites.values() for x in ("--site", u)],
                *[x for f in files for x in ("--file", f)],
            ],
            "model.log",
        )
        self.wait_for(port_file.exists, START_TIMEOUT_S, "the model API")
        self.api_port = int(port_file.read_text())
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.sock = self.dir / "alerts.sock"
        self.cfg = self.dir / "h7.toml"
        # The model endpoint is the one destination an operator would allowlist up front;
        # the sites are learnt in the baseline like any other destination.
        jsonl = self.dir / "alerts.jsonl"
        self.cfg.write_text(
            f'[sinkhole]\nsocket = "{self.sock}"\npubkey = "{self.pub}"\n'
            f'[[output]]\ntype = "jsonl"\npath = "{jsonl}"\n'
            f'format = "h7"\n[detect]\nl4_allow = ["127.0.0.1:{self.api_port}"]\n'
        )
        self.spawn([py, "-m", "h7", "sinkhole", "--config", str(self.cfg)], "sinkhole.log", cwd=REPO)
        self.wait_for(self.sock.exists, START_TIMEOUT_S, "the sinkhole socket")
        ready = self.dir / "agent.ready"
        envpy = str(ENVS / self.stack.env / "bin" / "python")
        cmd = [c.replace("{py}", envpy) for c in self.stack.cmd]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
        env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        env["NODE_PATH"] = str(HERE / "stacks" / "node" / "node_modules")
        self.agent = self.spawn(
            [
                *cmd,
                "--api",
                f"{self.api}/v1",
                "--workdir",
                str(work),
                "--seed",
                str(self.seed),
                "--ready-file",
                str(ready),
            ],
            "agent.log",
            cwd=HERE / "stacks",
            env=env,
        )
        self.wait_for(lambda: ready.exists() or self.agent.poll() is not None, START_TIMEOUT_S, "the agent")
        if self.agent.poll() is not None:
            raise RuntimeError(
                f"eval: the {self.stack.name} agent exited at start; see {self.dir / 'agent.log'}"
            )
        self.scores = self.dir / "scores.jsonl"
        self.sensor = self.spawn(self.sensor_args(py), "sensor.log", cwd=REPO)

    def sensor_args(self, py: str) -> list[str]:
        """`h7 attach` on the agent, through attach_scored.py, with the run's journal if any."""
        return [
            py,
            str(HERE / "attach_scored.py"),
            "--scores",
            str(self.scores),
            "attach",
            str(self.agent.pid),
            "--baseline",
            f"{self.baseline_s:g}s",
            "--config",
            str(self.cfg),
            "--key",
            str(self.key),
            "--cal-dir",
            str(self.dir / "cal"),
            "--sink",
            str(self.sock),
            "--spool-dir",
            str(self.dir / "spool"),
            "--status-file",
            str(self.dir / "status.json"),
            *(["--journal", str(self.journal)] if self.journal is not None else []),
        ]

    # ---------------------------------------------------------------- certificates
    def status(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.dir / "status.json").read_text()))
        except (OSError, ValueError):
            return {}

    def poll_certs(self) -> None:
        from h7.cal import load_public_key, verify_file
        from h7.errors import H7Error

        cal = self.dir / "cal"
        if not cal.is_dir():
            return
        pub = load_public_key(self.pub)
        for p in sorted(cal.glob("*.cal")):
            if p.name in self.seen:
                continue
            self.seen.add(p.name)
            try:
                body = verify_file(p, pub).body
            except H7Error as e:
                self.say(f"!! {p.name}: signature check FAILED: {e}")
                self.certs.append({"file": p.name, "sig_ok": False, "phase": self.phase, "seen": time.time()})
                continue
            if body.get("action", "ALERT_EMITTED") != "ALERT_EMITTED":
                # lifecycle and operator records share the chain; they are not detections
                self.records.append({"file": p.name, "action": str(body.get("action"))})
                continue
            ev = body.get("evidence")
            ev = ev if isinstance(ev, dict) else {}
            c: dict[str, Any] = {
                "file": p.name,
                "sig_ok": True,
                "phase": self.phase,
                "seen": time.time(),
                "channel": str(body["channel"]),
                "code": str(body["code"]),
                "divergence": float(body["divergence"]),
                "threshold": float(body["threshold"]),
                "ts": int(body["ts_ns"]) / 1e9,
                "act_to_cal_ms": (int(body["sign_time_ns"]) - int(body["ts_ns"])) / 1e6,
                "key": str(body.get("alert_key", "")),
                "suppressed": int(body.get("suppressed", 0) or 0),
                "evidence": json.dumps(ev, default=str, sort_keys=True)[:400],
                "judge": judge_of(ev),
            }
            self.certs.append(c)
            self.say(
                f"ALERT {c['channel']} {c['code']} div {c['divergence']:.3g} > {c['threshold']:.3g} "
                f"[{self.phase}] key={c['key'][:60]}"
            )

    def idle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.poll_certs()
            self.sample_load()
            if self.sensor.poll() is not None:
                raise RuntimeError(f"eval: the sensor exited (rc {self.sensor.returncode}); see sensor.log")
            if self.agent.poll() is not None:
                raise RuntimeError(f"eval: the agent exited (rc {self.agent.returncode}); see agent.log")
            time.sleep(0.2)

    # ---------------------------------------------------------------- phases
    def run(self, attack_ids: list[str] | None) -> dict[str, Any]:
        self.setup()
        self.say(f"agent pid {self.agent.pid}; model API {self.api}; sites {', '.join(self.sites.values())}")
        self.phase = "baseline"
        self.marks["attach"] = time.time()
        end = time.monotonic() + self.baseline_s + 90
        while time.monotonic() < end:
            if self.status().get("engine", {}).get("phase") == "monitoring":
                break
            self.idle(0.3)
        else:
            raise RuntimeError("eval: the baseline did not complete")
        from h7.config import load as load_config

        detect = load_config(self.cfg).detect
        self.batch_s = detect.batch_ns / 1e9
        # fold_idle 0 turns folding off altogether (h7.detect.engine.end_batch)
        self.fold_gap_s = detect.fold_gap_ns / 1e9 if detect.fold_idle_ns > 0 else 0.0
        self.marks["monitoring"] = time.time()
        self.say(f"baseline complete; benign soak {self.soak_s:g}s")
        self.phase = "soak"
        self.idle(self.soak_s)
        self.poll_certs()
        self.marks["soak_end"] = time.time()
        attacks: list[dict[str, Any]] = []
        for atk in SUITE:
            if attack_ids and atk.id not in attack_ids:
                continue
            quiet = self.wait_quiet(atk.channel)
            attacks.append({**self.attack(atk), **quiet})
        self.phase = "done"
        self.idle(1.0)
        self.marks["end"] = time.time()
        return self.result(attacks)

    def last_verdict(self, channel: str) -> float:
        """Wall time of the channel's latest verdict, certified or folded (0: none yet).

        From the engine's folder, through attach_scored.py's per-batch line; the
        channel's certificates and the end of its previous attack are lower bounds
        used when that line has no folder state.
        """
        t = max([c["seen"] for c in self.certs if c.get("sig_ok") and c["channel"] == channel], default=0.0)
        t = max(t, self.attack_end.get(channel, 0.0))
        with contextlib.suppress(OSError, ValueError):
            with open(self.scores, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 65536))
                lines = f.read().splitlines()
            for line in reversed(lines[1:] if len(lines) > 1 else lines):
                with contextlib.suppress(ValueError):
                    rec = json.loads(line)
                    if "last_verdict" in rec:
                        return max(t, float(rec["last_verdict"].get(channel, 0.0)))
        return t

    def wait_quiet(self, channel: str) -> dict[str, Any]:
        """Hold the next attack until its channel has been quiet for longer than ``fold_gap``.

        The engine folds a per-batch judge's verdicts (L1 ``sched``, L3
        ``structure``, L4 ``egress``) into one episode while they recur within
        ``fold_gap``: an attack starting sooner after the channel's previous
        verdict (an earlier attack, or its collateral) would be, by design, part
        of the same incident and get no certificate of its own.  Each attack is
        meant as a separate incident, so it starts only after a quiet gap of
        ``fold_gap`` plus two batches (read from the run's config); if the channel
        will not go quiet within ``quiet_max_s`` the attack goes ahead and its
        record says so (``quiet_ok`` false).
        """
        need = self.fold_gap_s + 2 * self.batch_s if self.fold_gap_s > 0 else 0.0
        self.idle(2.0)
        end = time.monotonic() + self.quiet_max_s
        while True:
            last = self.last_verdict(channel)
            quiet = time.time() - last
            if quiet > need or time.monotonic() >= end:
                break
            self.idle(min(1.0, need - quiet + 0.1))
        if quiet <= need:
            self.say(f"{channel} not quiet for {need:.0f}s within {self.quiet_max_s:.0f}s ({quiet:.1f}s)")
        # quiet_s None: the channel had no verdict at all since h7 attach
        return {
            "quiet_s": round(quiet, 1) if last > 0 else None,
            "quiet_needed_s": round(need, 1),
            "quiet_ok": quiet > need,
        }

    def sample_load(self) -> None:
        """Machine load while the stack runs (2 shared cores): load average, CPU busy, emulated guests."""
        now = time.monotonic()
        if now - self._load_at < LOAD_EVERY_S:
            return
        self._load_at = now
        with contextlib.suppress(OSError, ValueError, IndexError):
            cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            idle, total = cpu[3] + cpu[4], sum(cpu)
            busy = None
            if self._cpu is not None and total > self._cpu[1]:
                busy = 1.0 - (idle - self._cpu[0]) / (total - self._cpu[1])
            self._cpu = (idle, total)
            guests = 0
            for d in Path("/proc").iterdir():
                if d.name.isdigit():
                    with contextlib.suppress(OSError):
                        guests += (d / "comm").read_text().startswith("qemu")
            self.load.append(
                {
                    "t": time.time(),
                    "phase": self.phase,
                    "load1": os.getloadavg()[0],
                    "cpu_busy": None if busy is None else round(busy, 3),
                    "qemu": guests,
                }
            )

    def attack(self, atk: Attack) -> dict[str, Any]:
        self.phase = f"attack:{atk.id}"
        t_inject = time.time()
        self.say(f"attack {atk.id} ({atk.split}): {atk.what}")
        attacker = None
        if atk.channel == "L5":
            attacker = subprocess.Popen(
                external(atk, self.agent.pid, sys.executable),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=REPO,
            )
        else:
            site = self.sites.get("docs", "http://127.0.0.1:1")
            body = json.dumps({"steps": steps(atk, self.stack.lang, site)}).encode()
            req = urllib.request.Request(f"{self.api}/inject", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
        hit: dict[str, Any] | None = None
        end = time.monotonic() + self.wait_s
        while time.monotonic() < end and hit is None:
            self.idle(0.2)
            for c in self.certs:
                if (
                    c.get("phase") == self.phase
                    and c.get("channel") == atk.channel
                    and c.get("code") in EXPECTED[atk.channel]
                    and key_matches(atk.keys, c)
                ):
                    hit = c
                    break
        if attacker is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                attacker.wait(timeout=60)
        served = self.served_at(atk.id)
        if hit is None:
            self.say(f"MISSED {atk.id}: no {atk.channel} certificate within {self.wait_s:g}s")
        self.idle(1.0)  # let the rest of this attack's certificates land in its window
        self.attack_end[atk.channel] = time.time()
        return {
            "id": atk.id,
            "channel": atk.channel,
            "split": atk.split,
            "what": atk.what,
            "keys": list(atk.keys),
            "injected": t_inject,
            "served": served,
            "detected": hit is not None,
            "code": hit["code"] if hit else None,
            "cert": hit["file"] if hit else None,
            "act_to_cal_ms": hit["act_to_cal_ms"] if hit else None,
            "inject_to_cal_s": (hit["seen"] - t_inject) if hit else None,
            "window_certs": [c["file"] for c in self.certs if c.get("phase") == self.phase],
        }

    def served_at(self, label: str) -> float | None:
        try:
            with urllib.request.urlopen(f"{self.api}/stats", timeout=5) as r:
                st = json.loads(r.read())
        except OSError:
            return None
        ts = [s["t"] for s in st.get("served", []) if s.get("label") == label]
        self.model_stats = st
        return min(ts) if ts else None

    def result(self, attacks: list[dict[str, Any]]) -> dict[str, Any]:
        scores = []
        with contextlib.suppress(OSError):
            for line in self.scores.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    scores.append(json.loads(line))
        return {
            "stack": self.stack.name,
            "split": self.stack.split,
            "what": self.stack.what,
            "lang": self.stack.lang,
            "versions": versions(self.stack),
            "h7_commit": self.h7_commit,
            "main_commit": self.main_commit,
            "tree_commit": self.tree_commit,
            "sensor_matches_main": self.matches_main,
            "fold_gap_s": self.fold_gap_s,
            "wait_s": self.wait_s,
            "load": self.load,
            "baseline_s": self.baseline_s,
            "soak_s": self.soak_s,
            "marks": self.marks,
            "certs": self.certs,
            "records": self.records,
            "attacks": attacks,
            "scores": scores,
            "model": getattr(self, "model_stats", {}),
            "engine": self.status().get("engine", {}),
            "ring": self.status().get("ring", {}),
            "journal": {"path": str(self.journal)} if self.journal is not None else None,
        }

    def finish_journal(self, res: dict[str, Any]) -> None:
        """After the sensor stopped: the journal's size and contents into the results, marks beside it.

        The marks (attach, monitoring, soak end, each attack's injection and
        serving, wall clock) let a replay tell benign time from attack windows;
        the header's ``wall_minus_mono_ns`` maps them onto the batches.
        """
        if self.journal is None:
            return
        info: dict[str, Any] = {"path": str(self.journal)}
        from h7.errors import H7Error

        try:
            info.update(journal_stats(self.journal))
        except (OSError, H7Error) as e:  # a missing or broken journal must not lose the run's results
            info["error"] = f"{type(e).__name__}: {e}"
        keep = ("stack", "split", "h7_commit", "tree_commit", "baseline_s", "soak_s", "wait_s", "marks")
        marks = {k: res.get(k) for k in keep}
        marks["fold_gap_s"] = res.get("fold_gap_s")
        akeep = ("id", "channel", "split", "keys", "injected", "served", "detected", "cert")
        marks["attacks"] = [{k: a.get(k) for k in akeep} for a in res.get("attacks", [])]
        # the run's own config (its l4_allow names this run's model API port): a replay needs the same
        with contextlib.suppress(OSError, AttributeError):
            marks["config"] = self.cfg.read_text()
        side = self.journal.with_suffix(".marks.json")
        with contextlib.suppress(OSError):
            side.write_text(json.dumps(marks, indent=1, default=str))
            info["marks"] = str(side)
        res["journal"] = info
        self.say(f"journal {self.journal}: {info.get('bytes')} bytes, {info.get('batches')} batches")

    def stop(self) -> None:
        stop_groups(self.procs, timeout=15)


def h7_commit() -> str:
    """The last commit that changed the sensor's own files, so a table says which H7 it measured."""
    r = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%h", "--", "h7", "bpf", "_build"],
        capture_output=True,
        text=True,
    )
    dirty = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--", "h7", "bpf"]).returncode
    return (r.stdout.strip() or "unknown") + ("+dirty" if dirty else "")


def main_commit() -> tuple[str, bool]:
    """main's commit when the stack starts, and whether the sensor files run are exactly main's."""
    r = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "main"], capture_output=True, text=True
    )
    same = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "main", "--", "h7", "bpf", "_build"])
    return r.stdout.strip() or "unknown", same.returncode == 0


def journal_stats(path: Path) -> dict[str, Any]:
    """Size and contents of a run's journal, read back the way ``h7 replay`` reads it."""
    from h7.journal import JournalReader

    out: dict[str, Any] = {"bytes": path.stat().st_size, "batches": 0, "syscalls": 0, "events": 0}
    with JournalReader(path) as r:
        out["agents"] = [a.agent_id for a in r.header.agents]
        out["recorded_by"] = r.header.meta.get("recorded_by")
        for b in r:
            out["batches"] += 1
            out["syscalls"] += len(b.syscalls)
            out["events"] += len(b.events)
        out["truncated"] = r.truncated is not None
    return out


def run_commit() -> str:
    """The commit the harness and sensor run from (the journal directory's name)."""
    r = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--", "h7", "bpf"]).returncode
    return (r.stdout.strip() or "unknown") + ("-dirty" if dirty else "")


def key_matches(keys: tuple[str, ...] | list[str], cert: dict[str, Any]) -> bool:
    """A burst is about rates, not one key: only UNKNOWN_DESTINATION must name the attack's host."""
    if not keys or cert.get("code") == "NET_EGRESS_BURST":
        return True
    return any(k in str(cert.get("key", "")) for k in keys)


def versions(stack: Stack) -> dict[str, str]:
    """The pinned versions this stack ran with (from its lock file)."""
    lock = HERE / "lock" / f"{stack.env}.txt"
    if stack.env == "node":
        lock = HERE / "stacks" / "node" / "package.json"
        with contextlib.suppress(OSError, ValueError):
            return dict(json.loads(lock.read_text()).get("dependencies", {}))
        return {}
    out = {}
    keep = (
        "langgraph",
        "langchain-openai",
        "langchain-core",
        "openai-agents",
        "openai",
        "mcp",
        "smolagents",
        "pydantic-ai-slim",
        "autogen-agentchat",
        "autogen-ext",
        "llama-index-core",
        "llama-index-llms-openai-like",
        "llama-index-tools-code-interpreter",
    )
    with contextlib.suppress(OSError):
        for line in lock.read_text().splitlines():
            name, _, ver = line.partition("==")
            if name.lower() in keep:
                out[name.lower()] = ver
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "stacks",
        nargs="*",
        default=[s.name for s in STACKS if s.default],
        help="stack names (spaces or commas; default: every stack not marked opt-in)",
    )
    ap.add_argument("--baseline", type=float, default=30.0)
    ap.add_argument("--soak", type=float, default=600.0)
    ap.add_argument("--wait", type=float, default=45.0, help="how long to wait for each attack's certificate")
    ap.add_argument("--attacks", default="", help="comma-separated attack ids (default: the whole suite)")
    ap.add_argument("--rundir", type=Path, default=Path("/var/tmp/h7-eval"))
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument(
        "--quiet-max",
        type=float,
        default=90.0,
        help="longest wait for an attack's channel to be quiet for fold_gap before it goes ahead anyway",
    )
    ap.add_argument(
        "--journal-dir",
        default="/var/tmp/h7-eval-journals",
        help="full journals go to DIR/<commit>/<stack>.h7j (outside git); '' records none",
    )
    a = ap.parse_args()
    a.stacks = [x for s in a.stacks for x in s.split(",") if x]
    # A stopped run (kill, a CI timeout) must not leave the agent, its model API, sites, sinkhole
    # and sensor behind: SIGTERM unwinds like Ctrl-C, through the stack's ``finally: run.stop()``.
    signal.signal(signal.SIGTERM, _terminated)
    if os.geteuid() != 0:
        _usage("eval: h7 attach needs root")
    a.results.mkdir(parents=True, exist_ok=True)
    bad = [s for s in a.stacks if s not in BY_NAME]
    if bad:
        _usage(f"eval: unknown stack(s) {', '.join(bad)}; known: {', '.join(BY_NAME)}")
    failed = []
    jdir = Path(a.journal_dir) / run_commit() if a.journal_dir else None
    if jdir is not None:
        jdir.mkdir(parents=True, exist_ok=True)
    for name in a.stacks:  # one at a time: 2 cores
        journal = jdir / f"{name}.h7j" if jdir is not None else None
        run = Run(BY_NAME[name], a.rundir / name, a.baseline, a.soak, a.wait, a.seed, a.quiet_max, journal)
        try:
            res = run.run([x for x in a.attacks.split(",") if x] or None)
            res["ok"] = True
        except (RuntimeError, OSError) as e:
            run.say(f"FAILED: {e}")
            res = {**run.result([]), "ok": False, "error": str(e)}
            failed.append(name)
        finally:
            run.stop()
        run.poll_certs()
        res["certs"] = run.certs
        run.finish_journal(res)
        res["logs"] = {n: tail(run.dir / n) for n in ("agent.log", "sensor.log")}
        (a.results / f"{name}.json").write_text(dumps(res))
        run.say(f"results -> {a.results / (name + '.json')}")
    if failed:
        sys.exit(f"eval: stack(s) failed: {', '.join(failed)}")


def _usage(msg: str) -> NoReturn:
    """Exit 2: nothing ran, so `make eval` must not report the results on disk as this run's."""
    print(msg, file=sys.stderr)
    raise SystemExit(2)


#: the exit status of a run stopped by a signal (128 + signum, as a shell reports one): `make eval`
#: writes no report from it, since the per-stack results on disk are an earlier run's
STOPPED_STATUS_BASE = 128


def _terminated(signum: int, _frame: object) -> None:
    print(
        f"eval: stopped by signal {signum}; the stack's processes are stopped, its results not written",
        file=sys.stderr,
    )
    raise SystemExit(STOPPED_STATUS_BASE + signum)


def tail(p: Path, n: int = 40) -> str:
    try:
        return "\n".join(p.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


if __name__ == "__main__":
    main()
