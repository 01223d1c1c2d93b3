"""Shared fixtures.  Real-BPF tests need root and a kernel that loads H7's programs.

With H7_REQUIRE_BPF=1 (CI) an unavailable BPF environment is a failure, not a skip:
a CI run that silently skipped the kernel tests would prove nothing.
"""

from __future__ import annotations

import importlib.util
import io
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

if TYPE_CHECKING:  # the demo runner is imported when the fixture runs, not at collection
    from h7.demo.runner import Demo

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_BPF = os.environ.get("H7_REQUIRE_BPF") == "1"
#: Multiplies the wall-clock deadlines of live tests: vmtest guests run under
#: software emulation, several times slower than the host.
TIMESCALE = float(os.environ.get("H7_TEST_TIMESCALE", "1"))


def bpf_unavailable(reason: str) -> None:
    if REQUIRE_BPF:
        pytest.fail(f"BPF required (H7_REQUIRE_BPF=1) but unavailable: {reason}")
    pytest.skip(f"BPF unavailable: {reason}")


def doctor_json() -> dict[str, Any]:
    """`h7 doctor --json` run as a user would run it (its own process: a second load of every
    program, minutes in a 1-vCPU TCG guest); fails the test on a reported problem."""
    import json
    import subprocess

    argv = [sys.executable, "-m", "h7", "doctor", "--json"]
    d = subprocess.run(argv, capture_output=True, text=True, timeout=300 * TIMESCALE)
    doc: dict[str, Any] = json.loads(d.stdout)
    assert not doc["error"], doc["error"]
    return doc


#: The sensor the last sensor-using test left open (see ``sensor`` below); None when closed.
_shared: list[Any] = []


def unload_shared_sensor() -> None:
    """Close the sensor a previous test left open, if any; the next ``sensor`` opens a new one.

    Why public: a fixture whose act must come BEFORE the sensor's programs load (a connection
    the kernel must never have seen) is set up before ``sensor``, but with a shared sensor that
    is not enough: the one the previous test left is loaded already and would see the act.
    """
    while _shared:
        _shared.pop().close()


def _settled(s: Any) -> bool:
    """Make a used sensor look freshly opened to the next test; False if it cannot be.

    Everything the last test left is drained and dropped, agents whose processes are gone
    are retired (their kernel config, counters and filter bits cleared, their slot freed),
    and the knobs a test may turn go back to what ``open`` leaves.  An agent still alive
    (a test left a process running) cannot be undone: the caller opens a new sensor.
    """
    s.poll(0)
    s.take_batch(0, 0)  # drops what was pending; prunes agents' exited processes via /proc
    s.retire_dead(after_batches=1)
    if s.agents:
        return False
    s.take_batch(0, 0)
    s.set_receiver_window(0)
    s.set_follow_daemons([], 0)
    return True


def closed_to_others(path: Path) -> Path | None:
    """The first directory on the way to ``path`` that other users may not traverse, or None."""
    p = path.resolve()
    for d in (*reversed(p.parents), *((p,) if p.is_dir() else ())):
        if not d.stat().st_mode & stat.S_IXOTH:
            return d
    return None


@pytest.fixture
def nobody_reaches_checkout() -> None:
    """Fail in one line when ``nobody`` cannot reach this checkout or its Python.

    Tests that run H7 as ``nobody`` import it from the checkout (and run the venv's
    interpreter): a clone under a 0700 directory (``mktemp -d``) would make them fail
    with import errors that say nothing about why.
    """
    for what, path in (("checkout", ROOT), ("interpreter", Path(sys.executable).parent)):
        closed = closed_to_others(path)
        if closed is not None:
            pytest.fail(
                f"the {what} {path} is not reachable by nobody: {closed} is mode "
                f"{stat.S_IMODE(closed.stat().st_mode):04o} (chmod o+x it, or clone elsewhere)",
                pytrace=False,
            )


@pytest.fixture(autouse=True)
def _no_idle_sensor(request: pytest.FixtureRequest) -> None:
    """A test that does not use the shared sensor runs with none loaded.

    Keeps consecutive sensor tests on one open sensor without leaving its programs attached
    under tests that load their own (``h7 attach`` subprocesses, cgroup attach points).
    """
    if "sensor" not in request.fixturenames:
        unload_shared_sensor()


@pytest.fixture
def sensor(request: pytest.FixtureRequest) -> Iterator[object]:
    """An opened Sensor, as a freshly opened one behaves.

    Why shared: loading H7's programs is the verifier's work for every program, ~2 s on the
    host and ~25 s in a software-emulated vmtest guest, where opening one per test used most
    of the CI budget.  Consecutive tests share one sensor, settled between them (see
    ``_settled``); any doubt (an agent left alive, a settle that fails) opens a new one.
    """
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    try:
        from h7.sensor.sensor import Sensor
    except ImportError as e:
        bpf_unavailable(f"extension not built: {e}")
    from h7.errors import H7Error

    if _shared:
        try:
            ok = _shared[0].obj is not None and _settled(_shared[0])
        except (H7Error, OSError):
            ok = False
        if not ok:
            unload_shared_sensor()
    if not _shared:
        s = Sensor()
        try:
            s.open()
        except H7Error as e:
            bpf_unavailable(str(e))
        _shared.append(s)
    failed_before = request.session.testsfailed
    yield _shared[0]
    # the call's report is logged before teardown: a count that moved is this test's failure
    # (no report hook: Debian's pytest 7, which `make deb-test` runs, lacks new-style wrappers)
    if request.session.testsfailed != failed_before:
        unload_shared_sensor()  # a failed test's sensor is not trusted with the next test


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    unload_shared_sensor()


def file_exec(filename: str, args: list[str], pid: int, ppid: int, **fields: Any) -> dict[str, Any]:
    """An exec record of a real file as the kernel sends it (unit tests of L2 feed these).

    Why shared: L2 identifies a program by the identity the kernel reads (device in
    the kernel's encoding, inode, size, times, the file's first HEAD_LEN bytes); a
    test that got one of them wrong would test an identity the sensor never ships.
    ``fields`` override the rest (``ts_ns`` is the pid unless given).
    """
    from h7.decode import HEAD_LEN

    st = os.stat(filename)
    with open(filename, "rb") as f:
        head = f.read(HEAD_LEN)
    ev: dict[str, Any] = {
        "type": "exec",
        "pid": pid,
        "ppid": ppid,
        "ts_ns": pid,
        "dev": (os.major(st.st_dev) << 20) | os.minor(st.st_dev),
        "ino": st.st_ino,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "head": head.hex(),
        "id_flags": [],
        "filename": filename,
        "exe_name": os.path.basename(os.path.realpath(filename)),
        "interp": filename,
        "args": args,
    }
    ev.update(fields)
    return ev


def cli_runner() -> CliRunner:
    """A click test runner that keeps stderr apart from stdout, on click 8.1 and 8.2+ alike.

    Why: Debian 12 (the .deb's python3-click) ships 8.1.3, which mixes stderr into stdout
    unless told not to; 8.2 keeps them apart and no longer takes the argument.
    """
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click >= 8.2's stub has no mix_stderr
    except TypeError:
        return CliRunner()


def load_script(name: str, path: Path) -> ModuleType:
    """Import the script at ``path`` as module ``name`` (registered in sys.modules).

    Why by path: the journal recorders and eval scripts are not packages, and several
    folders hold a ``record.py``; a test that reads a recorder's timings or an eval
    module's functions loads exactly that file under a name of its own.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """The demo's agent, model API and sensor (h7.demo.runner.Demo) with an 8-s baseline, stopped after.

    Shared by the live detection and semantics tests: the same agent the demo attacks,
    so a live test judges what `make demo` shows.
    """
    if os.geteuid() != 0:
        bpf_unavailable("not root")
    from h7.demo.runner import Demo

    # the agent (and so the sensor, which ends with it) lives as long as a test can take in a slow
    # guest: at the demo's 300 s, the L2 accept test outlived it in a one-vCPU CI guest (session 18)
    d = Demo(
        tmp_path / "demo", baseline_s=8, benign_s=0, wait_s=2.0 * TIMESCALE, out=io.StringIO(),
        lifetime_s=600 * TIMESCALE,
    )  # fmt: skip
    try:
        yield d
    finally:
        d.stop()


def sensor_gone(d: Demo) -> str:
    """Why a live test's sensor is no longer running, for its assertion: the sensor's and the
    agent's exit codes and the sensor log's tail (an agent that ended takes its sensor with it)."""
    return (
        f"the sensor exited (rc {d.sensor.poll()}; agent rc {d.agent.poll()}) "
        f"{time.monotonic() - d.t0:.0f} s after the demo began; sensor log:\n"
        + (d.dir / "sensor.log").read_text()[-3000:]
    )


#: an agent that reads a file every 50 ms until a line on stdin, then runs a shell once
#: (``os.system``: L2's LLM_AGENT_HIJACK) and waits for a second line
SHELL_ON_GO_AGENT = (
    "import os,sys,threading,time\n"
    "go = threading.Event()\n"
    "threading.Thread(target=lambda: (sys.stdin.readline(), go.set()), daemon=True).start()\n"
    "for i in range(100000):\n"
    "    open('/etc/hostname').read(); time.sleep(0.05)\n"
    "    if go.is_set(): os.system('true'); break\n"
    "sys.stdin.readline()\n"
)
