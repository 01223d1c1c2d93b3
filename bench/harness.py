"""Shared plumbing for the whole-system benchmarks: processes, an `h7 attach` session, statistics.

Every benchmark here starts real processes (redis-server, `h7 attach`, the
sinkhole, workload generators).  They all go through :class:`Procs`, which
puts each in its own process group and kills the groups on exit, so a
failing or interrupted benchmark never leaves a sensor attached or a
server listening.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from h7.procgroup import poll_until, spawn_logged, stop_groups

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class BenchError(RuntimeError):
    """A benchmark could not produce its figure (a process died, a wait timed out)."""


#: where `make bench` puts the measuring loops and BPF objects it compiles
BUILD = Path(__file__).resolve().parent.parent / "build"


def built(name: str) -> Path:
    """``build/<name>``, which `make bench` compiles; BenchError (reported, not hidden) if it has not."""
    path = BUILD / name
    if not path.exists():
        raise BenchError(f"{path} not built (make bench builds it)")
    return path


def null_object() -> Any:
    """bench/null.bpf.c loaded, nothing attached; the caller closes it.

    Its empty ``bench_null_sys_enter`` is the floor any syscall-level sensor pays (syscall_cost,
    hook_cost and overhead attach it as their ``floor`` set-up); ``bench_null_sys_exit_openat``
    is syscall_cost's exit floor.
    """
    from h7.sensor.libbpf import BpfObject

    obj = BpfObject(built("bench_null.bpf.o").read_bytes())
    try:
        obj.load()
    except BaseException:
        obj.close()
        raise
    return obj


# ---------------------------------------------------------------- statistics
def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def spread(xs: Sequence[float]) -> float:
    """(max - min) / median: how far apart the rounds were, as a fraction."""
    if len(xs) < 2:
        return 0.0
    m = median(xs)
    return (max(xs) - min(xs)) / m if m else float("nan")


def percentile(xs: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): with 15 samples p99 is the maximum, as it should be."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))
    return float(s[k])


# ----------------------------------------------------------------- processes
class Procs:
    """Processes started by a benchmark; each in its own session, all killed on exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []

    def spawn(self, args: Sequence[str], log: Path | None = None, **kw: Any) -> subprocess.Popen[Any]:
        p: subprocess.Popen[Any]
        if log is not None and "stdout" not in kw:
            p = spawn_logged(args, log, **kw)
        else:
            p = subprocess.Popen(list(args), start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[Any], timeout: float = 10.0) -> int:
        """SIGTERM the process group, then SIGKILL if it lingers; returns the exit code."""
        stop_groups([p], timeout)
        for s in (p.stdin, p.stdout, p.stderr):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        return int(p.returncode)

    def close(self) -> None:
        for p in reversed(self.procs):
            with contextlib.suppress(Exception):
                self.stop(p)
        self.procs.clear()

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for(pred: Any, timeout: float, what: str, proc: subprocess.Popen[Any] | None = None) -> None:
    """Until ``pred()``; BenchError at ``timeout``, or once ``proc`` (which should make it true) exits."""
    if not poll_until(lambda: pred() or (proc is not None and proc.poll() is not None), timeout, 0.02):
        raise BenchError(f"timed out after {timeout:g}s waiting for {what}")
    if not pred() and proc is not None and proc.returncode is not None:
        raise BenchError(f"{what}: process exited with {proc.returncode}")


class LineProcess:
    """A measuring loop in its own process that answers one request line with one figure.

    The cost benchmarks time syscalls, connects and spawns from a separate
    process (a C loop, or a Python spawner), so the figure is that process's
    own clock and the sensor can watch it by pid; one request/answer
    protocol serves them all.
    """

    def __init__(self, args: Sequence[str], what: str, ready: str | None = None) -> None:
        self.what = what
        self.p = subprocess.Popen(list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if ready is not None:
            assert self.p.stdout is not None
            if self.p.stdout.readline().strip() != ready:
                self.close()
                raise BenchError(f"{what} did not start")

    @property
    def pid(self) -> int:
        return self.p.pid

    def ask(self, request: str) -> float:
        """Send one request line; the answer line is the figure (BenchError if the loop died)."""
        return float(self.ask_line(request))

    def ask_line(self, request: str) -> str:
        """Send one request line and return the answer line (a loop that answers several figures)."""
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(request + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise BenchError(f"{self.what} exited")
        return line

    def close(self, timeout: float = 60.0) -> None:
        """End of input ends the loop; a loop that ignores it is killed (a benchmark leaves nothing)."""
        if self.p.stdin is not None:
            with contextlib.suppress(OSError):
                self.p.stdin.close()
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=5)


class DrainingSensor:
    """A :class:`h7.sensor.sensor.Sensor` draining its rings in a thread while a loop is measured.

    Without a drain the rings fill and the kernel side takes its drop path,
    which is not the cost being measured.  ``keep`` holds the batches (for
    benchmarks that read what was shipped); otherwise they are discarded.
    """

    def __init__(self, sensor: Any, keep: bool = False) -> None:
        self.sensor = sensor
        self.batches: list[Any] = []
        self._stop = threading.Event()
        on_batch = self.batches.append if keep else _discard
        self._t = threading.Thread(
            target=sensor.run,
            args=(200_000_000, on_batch),
            kwargs={"should_stop": self._stop.is_set, "stop_when_no_agents": False},
            daemon=True,
        )
        self._t.start()

    def stop(self) -> None:
        self._stop.set()
        self._t.join(timeout=30)


def _discard(batch: Any) -> None:
    pass


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (all threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------- h7 sessions
class H7Env:
    """Key, config and directories shared by the `h7 attach` sessions of one benchmark."""

    def __init__(self, root: Path, detect: dict[str, Any] | None = None) -> None:
        from h7.cal import keygen

        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        keys = root / "keys"
        if not (keys / "h7.key").exists():
            keygen(keys)
        self.key = keys / "h7.key"
        self.pub = keys / "h7.pub"
        self.sock = root / "alerts.sock"
        self.config = root / "h7.toml"
        lines = [f'[sinkhole]\nsocket = "{self.sock}"\n', "[detect]\n"]
        for k, v in (detect or {}).items():
            lines.append(f"{k} = {json.dumps(v)}\n")
        self.config.write_text("".join(lines))
        self.sessions = 0


class H7Session:
    """One `h7 attach` process: started, timed to "programs attached", waited into monitoring.

    The sensor is a separate process exactly as deployed, so its RSS and CPU
    can be read from /proc and its cost lands on the machine the same way.
    No sinkhole is needed: alerts are spooled and the sensor never waits on
    delivery.
    """

    def __init__(
        self,
        procs: Procs,
        env: H7Env,
        pids: Sequence[int],
        *,
        baseline: str = "2s",
        baseline_from: Path | None = None,
        save_baseline: Path | None = None,
        tag: str = "",
    ) -> None:
        env.sessions += 1
        n = env.sessions
        self.dir = env.root / f"session-{n}{'-' + tag if tag else ''}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.status_path = self.dir / "status.json"
        self.log_path = self.dir / "attach.log"
        args = [
            PY, "-m", "h7", "attach", *map(str, pids),
            "--baseline", baseline,
            "--config", str(env.config),
            "--key", str(env.key),
            "--cal-dir", str(self.dir / "cal"),
            "--sink", str(env.sock),
            "--spool-dir", str(self.dir / "spool"),
            "--status-file", str(self.status_path),
        ]  # fmt: skip
        if baseline_from is not None:
            args += ["--baseline-from", str(baseline_from)]
        if save_baseline is not None:
            args += ["--save-baseline", str(save_baseline)]
        self.procs = procs
        self.attached_wall_ms = float("nan")
        self.attached_ms = float("nan")
        #: CPU (utime+stime, 10-ms ticks) of `h7 attach` when it said "programs attached": start-up,
        #: imports and verification as work done, whatever the neighbours made it wait
        self.attached_cpu_ms = float("nan")
        self._attached = threading.Event()
        self._lines: list[str] = []
        self.t_start = time.monotonic()
        self.proc = procs.spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        with open(self.log_path, "w") as log:
            for raw in iter(self.proc.stderr.readline, b""):
                line = raw.decode(errors="replace")
                log.write(line)
                log.flush()
                self._lines.append(line)
                if "programs attached in" in line and not self._attached.is_set():
                    self.attached_wall_ms = (time.monotonic() - self.t_start) * 1000
                    with contextlib.suppress(OSError):
                        self.attached_cpu_ms = proc_cpu_s(self.proc.pid) * 1000
                    with contextlib.suppress(ValueError):
                        self.attached_ms = float(line.rsplit("attached in", 1)[1].split()[0])
                    self._attached.set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def status(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.status_path.read_text()))
        except (OSError, ValueError):
            return {}

    def wait_monitoring(self, timeout: float = 30.0) -> None:
        if not self._attached.wait(timeout):
            raise BenchError(f"h7 attach did not attach within {timeout:g}s: {''.join(self._lines[-5:])}")
        try:
            wait_for(
                lambda: self.status().get("engine", {}).get("phase") == "monitoring",
                timeout,
                "h7 attach to reach monitoring",
                self.proc,
            )
        except BenchError as e:
            raise BenchError(f"{e}; log: {''.join(self._lines[-5:])}") from None

    def index_built_s(self) -> float | None:
        """Seconds L2's background index build took (its marker pass included); None while it runs.

        The build (every known binary read once, paced to a fifth of one core at nice +10) is
        start-up work: with a 30-s baseline it ends inside the baseline, but a session started
        from a saved baseline is monitoring at once and the build then overlaps what the rounds
        time.  The rounds wait for it, so their ratios are steady-state cost; the build's length
        is reported on its own (``index_build_s``).
        """
        agents = self.status().get("engine", {}).get("agents", {})
        builds = [a.get("channels", {}).get("L2", {}).get("index_build") for a in agents.values()]
        if not builds or any(not b for b in builds):
            return None
        if any(b.get("markers_seconds") is None and "markers_error" not in b for b in builds):
            return None
        return max(float(b.get("markers_seconds") or 0.0) for b in builds)

    def wait_index_built(self, timeout: float = 120.0) -> float:
        """Wait for :meth:`index_built_s`; its value."""
        wait_for(lambda: self.index_built_s() is not None, timeout, "L2's index build to finish", self.proc)
        return float(self.index_built_s() or 0.0)

    def stop(self) -> int:
        rc = self.procs.stop(self.proc)
        self._reader.join(timeout=5)
        return rc

    def log(self) -> str:
        return "".join(self._lines)


# ------------------------------------------------------------------ profiling
@contextlib.contextmanager
def profiled(pid: int, name: str) -> Iterator[None]:
    """With H7_BENCH_PROFILE_DIR set, py-spy records ``pid`` for the block (collapsed stacks, idle included).

    Off by default: py-spy samples the sensor 100 times a second and would
    itself show up in the figures.  Read the output with bench/profile.py.
    """
    out_dir = os.environ.get("H7_BENCH_PROFILE_DIR")
    spy = Path(PY).with_name("py-spy")
    if not out_dir or not spy.exists():
        yield
        return
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    out = Path(out_dir) / f"{name}.txt"
    p = subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--idle", "--threads", "--format", "raw",
         "--output", str(out), "--rate", "200", "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)


# ------------------------------------------------------------- BPF run stats
BPF_STATS = Path("/proc/sys/kernel/bpf_stats_enabled")


@contextlib.contextmanager
def bpf_stats_enabled() -> Iterator[None]:
    """kernel.bpf_stats_enabled=1 for the block, then back to what it was (costs 2 clock reads per run)."""
    old = BPF_STATS.read_text().strip()
    BPF_STATS.write_text("1\n")
    try:
        yield
    finally:
        BPF_STATS.write_text(old + "\n")


def bpf_prog_ids(owner_pid: int) -> set[int]:
    """Ids of the BPF programs whose fds ``owner_pid`` holds (/proc fdinfo: this bpftool lists no pids)."""
    ids: set[int] = set()
    fd_dir = Path(f"/proc/{owner_pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            if os.readlink(fd) != "anon_inode:bpf-prog":
                continue
            for line in Path(f"/proc/{owner_pid}/fdinfo/{fd.name}").read_text().splitlines():
                if line.startswith("prog_id:"):
                    ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


def bpf_prog_stats(owner_pid: int) -> dict[str, tuple[int, int]]:
    """name -> (run_time_ns, run_cnt) for the BPF programs held by ``owner_pid``."""
    ids = bpf_prog_ids(owner_pid)
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, timeout=30, check=True)
    res: dict[str, tuple[int, int]] = {}
    for p in json.loads(out.stdout):
        if int(p.get("id", -1)) not in ids:
            continue
        name = str(p.get("name", ""))
        t, c = res.get(name, (0, 0))
        res[name] = (t + int(p.get("run_time_ns", 0)), c + int(p.get("run_cnt", 0)))
    return res
