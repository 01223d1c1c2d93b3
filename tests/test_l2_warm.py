"""L2 builds its index of the host's binaries on the batch path, so no exec pays the PATH scan.

Regression test for the cold first L2 alert (docs/performance.md, session 8): the
KnownBinaries index and the script directories were built by the first exec the
channel judged, inside the urgent path.  Real PATH directories of this host; no BPF.
"""

from __future__ import annotations

import os

from h7.batch import Batch
from h7.config import EngineConfig
from h7.detect.channels.base import ChannelContext, ProcReader
from h7.detect.channels.l2_exec import ExecChannel


def _channel(live: bool, **l2: object) -> tuple[ExecChannel, ChannelContext]:
    cfg = EngineConfig(channel_settings={"L2": dict(l2)})
    ch = ExecChannel(cfg)
    return ch, ChannelContext(agent=1, agent_id="agent1", info=None, config=cfg, proc=ProcReader(live))


def _exec(pid: int, path: str) -> dict[str, object]:
    return {
        "type": "exec",
        "pid": pid,
        "ppid": pid - 1,
        "ts_ns": 2_000_000_000,
        "filename": path,
        "interp": path,
        "exe_name": os.path.basename(os.path.realpath(path)),
        "args": [path, "-c", "true"],
        "id_flags": [],
    }


def test_first_baseline_batch_builds_the_index_before_any_exec() -> None:
    ch, ctx = _channel(live=True)
    assert ch._known is None and ch._script_dirs is None
    ch.learn(Batch(0, 1_000_000_000), ctx)
    assert ch._known is not None and ch._known.by_inode, "no known binary indexed from this host's PATH"
    assert ch._script_dirs
    known = ch._known
    # the first exec afterwards uses that index: nothing is rebuilt on the urgent path
    alerts = ch.on_events([_exec(4_100_000, "/bin/sh")], ctx)
    assert ch._known is known
    assert [a.code for a in alerts] == ["LLM_AGENT_HIJACK"]


def test_judge_warms_a_loaded_baseline() -> None:
    """With --baseline-from there is no learn(): the first judged batch builds it."""
    ch, ctx = _channel(live=True)
    ch.from_state(ch.to_state())
    assert ch.judge(Batch(0, 1_000_000_000), ctx) == []
    assert ch._known is not None and ch._script_dirs is not None


def test_replay_and_disabled_rules_build_nothing() -> None:
    ch, ctx = _channel(live=False)
    ch.learn(Batch(0, 1_000_000_000), ctx)
    ch.judge(Batch(1_000_000_000, 2_000_000_000), ctx)
    assert ch._known is None and ch._script_dirs is None
    ch, ctx = _channel(live=True, content_identity=False, installed_scripts=False)
    ch.learn(Batch(0, 1_000_000_000), ctx)
    assert ch._known is None and ch._script_dirs is None
