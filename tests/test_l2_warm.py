"""L2's index of the host's binaries is built in the background from the attach on, never on a batch.

History (docs/performance.md, docs/detection.md): built by the first exec, it cost
the first L2 alert 11 ms (session 7); built in the first batch instead, it stalled a
1-vCPU emulated guest's sensor loop ~40 s and left the baseline too few batches
(session 8).  Now ``registry.prepare`` starts ``IndexBuild`` before the sensor
opens, the batch path only adopts it, and an exec that comes before it is done
waits at most ``index_wait_s``.  Real PATH directories of this host; no BPF.  A
"slow build" is the real build held at a gate the test opens.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TIMESCALE

from h7 import registry
from h7.batch import Batch
from h7.config import EngineConfig
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l2_exec import ExecChannel, IndexBuild, KnownBinaries
from h7.pipeline import AlertOutput, Terminal, run_source
from h7.source import JournalSource

SHELL = os.path.realpath("/bin/sh")


def _config(**l2: object) -> EngineConfig:
    """A configuration with an index of its own: the shared build is keyed by the name tables."""
    extra = {"extra_lotl": [f"h7test{uuid.uuid4().hex[:12]}"], **l2}
    return EngineConfig(channel_settings={"L2": extra})


def _channel(cfg: EngineConfig, live: bool) -> tuple[ExecChannel, ChannelContext]:
    ch = ExecChannel(cfg)
    return ch, ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(live))


def _exec(pid: int, path: str, name: str | None = None) -> dict[str, object]:
    st = os.stat(path)
    return {
        "type": "exec",
        "pid": pid,
        "ppid": pid - 1,
        "ts_ns": 2_000_000_000,
        "filename": path,
        "interp": path,
        "exe_name": name or os.path.basename(os.path.realpath(path)),
        "args": [path, "-c", "true"],
        "id_flags": [],
        "ino": st.st_ino,
        "dev": (os.major(st.st_dev) << 20) | os.minor(st.st_dev),
        "size": st.st_size,
    }


def _in_thread(fn: Any, limit_s: float = 20.0) -> Any:
    """Run ``fn`` in a thread: a call that blocks on the gated build fails the test instead of hanging it."""
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(limit_s)
    assert not t.is_alive(), f"{fn} still waiting after {limit_s} s: it waits for the index build"
    return out[0]


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Hold every index build started meanwhile before its PATH scan, until the test sets the event."""
    ev = threading.Event()
    real = KnownBinaries._scan

    def held(self: KnownBinaries) -> None:
        assert ev.wait(120 * TIMESCALE), "the test never opened the gate"
        real(self)

    monkeypatch.setattr(KnownBinaries, "_scan", held)
    yield ev
    ev.set()


def test_prepare_builds_the_index_before_the_first_batch_without_the_batch_path() -> None:
    cfg = _config()
    registry.prepare(cfg)  # what run_source does before the sensor opens
    ch, ctx = _channel(cfg, live=True)
    build = ch._build
    assert build is not None and build is IndexBuild.shared(ch.settings, ch.interpreters, ch.lotl), (
        "the channel did not join the build prepare started"
    )
    assert build.wait(60 * TIMESCALE) and build.known is not None and build.known.by_inode, build.status()
    ch.learn(Batch(0, 1_000_000_000), ctx)
    assert ch._known is build.known and ch._script_dirs is build.script_dirs
    alerts = ch.on_events([_exec(4_100_000, "/bin/sh")], ctx)
    assert [a.code for a in alerts] == ["LLM_AGENT_HIJACK"]
    assert alerts[0].evidence["content_identity"] == "inode"
    # every agent's L2 shares the one build
    other, _ = _channel(cfg, live=True)
    assert other._build is build


def test_a_slow_index_build_delays_no_batch_and_an_exec_only_up_to_its_bound(
    gate: threading.Event, tmp_path: Path
) -> None:
    cfg = _config(index_wait_s=0.3)
    ch, ctx = _channel(cfg, live=True)
    assert ch._build is not None and not ch._build.done
    # batches while the build is held: nothing waits for it
    _in_thread(lambda: ch.learn(Batch(0, 1_000_000_000), ctx))
    _in_thread(lambda: ch.learn(Batch(1_000_000_000, 2_000_000_000), ctx))
    assert ch._known is None
    # an exec meanwhile waits its bound, then is judged by its names: /bin/sh is still a shell
    copy = tmp_path / "notes.txt"
    shutil.copyfile(SHELL, copy)
    os.chmod(copy, 0o755)
    alerts = _in_thread(lambda: ch.on_events([_exec(4_100_001, "/bin/sh")], ctx))
    assert [a.code for a in alerts] == ["LLM_AGENT_HIJACK"]
    assert alerts[0].evidence["content_identity"] == "index-not-ready"
    # ... and the bound is spent: the next one does not wait again (a renamed copy, unknown yet)
    assert _in_thread(lambda: ch.on_events([_exec(4_100_002, str(copy), "notes.txt")], ctx), 5.0) == []
    assert ch.index_not_ready == 2 and ch.status()["index_build"]["ready"] is False
    gate.set()
    assert ch._build.wait(60 * TIMESCALE)
    ch.learn(Batch(2_000_000_000, 3_000_000_000), ctx)  # the batch path adopts it once done
    assert ch._known is ch._build.known
    alerts = ch.on_events([_exec(4_100_003, str(copy), "notes.txt")], ctx)
    assert [a.code for a in alerts] == ["LLM_AGENT_HIJACK"], "the renamed copy, known by content now"
    assert alerts[0].evidence["content_identity"] in ("sha256", "elf-layout", "code")


class _NoAlerts(AlertOutput):
    def __call__(self, alert: Any) -> None:
        raise AssertionError(f"no alert expected: {alert}")


def test_run_source_starts_the_build_before_the_source_opens(tmp_path: Path) -> None:
    cfg = _config()
    lotl = _channel(cfg, live=False)[0].lotl
    seen: list[bool] = []

    class Probe(JournalSource):
        """A source whose open (where the sensor would load its programs) looks for the build."""

        def open(self) -> list[Any]:
            seen.append(any(k[2] == lotl for k in IndexBuild._shared))
            raise RuntimeError("probe: opened")

    journal = tmp_path / "none.h7j"
    journal.write_bytes(b"")
    with pytest.raises(RuntimeError, match="probe: opened"):
        run_source(Probe(journal), cfg, _NoAlerts(), Terminal(False))
    assert seen == [True], "the index build had not started when the source opened"


def test_replay_and_disabled_rules_start_nothing() -> None:
    cfg = _config()
    cfg.read_proc = False
    before = len(IndexBuild._shared)
    registry.prepare(cfg)
    ch, ctx = _channel(cfg, live=False)
    assert ch._build is None and len(IndexBuild._shared) == before
    ch.learn(Batch(0, 1_000_000_000), ctx)
    ch.judge(Batch(1_000_000_000, 2_000_000_000), ctx)
    assert ch._known is None and ch._script_dirs is None
    # a replay builds on first need, on its own thread
    alerts = ch.on_events([_exec(4_100_004, "/bin/sh")], ctx)
    assert [a.code for a in alerts] == ["LLM_AGENT_HIJACK"] and ch._known is not None
    cfg = _config(content_identity=False, installed_scripts=False)
    registry.prepare(cfg)
    ch, ctx = _channel(cfg, live=True)
    assert ch._build is None and len(IndexBuild._shared) == before
    ch.learn(Batch(0, 1_000_000_000), ctx)
    assert ch._known is None and ch._script_dirs is None
