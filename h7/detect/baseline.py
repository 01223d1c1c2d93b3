"""Saved baselines: what ``--save-baseline`` writes and ``--baseline-from`` reads.

A baseline file is msgpack: a format tag, a version, and per agent its
id, executable and every channel's ``to_state()``.  The engine decides
which agent takes which saved model (:func:`match`); this module owns the
file and its checks, so a file from another version or a corrupt one is a
one-line refusal, never a half-loaded model.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import Any

import msgpack

from h7.config import EngineConfig
from h7.detect.agents import PHASE_MONITORING, AgentState
from h7.errors import StorageError, UsageError

#: A saved baseline is a few hundred KiB to a few MiB (measured: see docs/operations.md "Input limits");
#: the cap keeps a corrupt or hostile file from costing gigabytes of memory.
MAX_BASELINE_BYTES = 64 << 20
BASELINE_FORMAT = "h7-baseline"
#: 2: L3 models syscall windows as the kernel computes them, and carries its known windows.
BASELINE_VERSION = 2


def dump(config: EngineConfig, agents: Iterable[AgentState]) -> dict[str, Any]:
    """The file's content for the given (monitoring) agents."""
    return {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "baseline_ns": config.baseline_ns,
        "batch_ns": config.batch_ns,
        "agents": [
            {
                "agent": st.ctx.agent,
                "agent_id": st.ctx.agent_id,
                "exe": st.ctx.info.exe if st.ctx.info else "",
                "channels": {ch.name: ch.to_state() for ch in st.channels},
            }
            for st in agents
        ],
    }


def check(state: Any) -> list[dict[str, Any]]:
    """The saved agent models of a file's content, or UsageError (wrong format, version, shape)."""
    if not isinstance(state, dict) or state.get("format") != BASELINE_FORMAT:
        raise UsageError("not an H7 baseline file")
    if state.get("version") != BASELINE_VERSION:
        raise UsageError(
            f"unsupported baseline version {state.get('version')!r} (this h7 reads "
            f"{BASELINE_VERSION}): learn the baseline again with --save-baseline"
        )
    saved = state.get("agents", [])
    if not isinstance(saved, list) or not all(isinstance(s, dict) for s in saved):
        raise UsageError("malformed baseline file: agents is not a list of models")
    return list(saved)


def match(
    saved: list[dict[str, Any]], agent_id: str, exe: str, used: set[int], *, by_exe: bool = True
) -> int | None:
    """Index of the saved model for an agent: same agent_id, else (``by_exe``) same executable.

    Among same-executable models an unused one is preferred (two restarted
    copies of one program take the two saved models in order); if all are
    used, one is shared (identical programs, one model).
    """
    for i, s in enumerate(saved):
        if s.get("agent_id") == agent_id:
            return i
    if by_exe and exe:
        same = [i for i, s in enumerate(saved) if s.get("exe") == exe]
        fresh = [i for i in same if i not in used]
        if same:
            return (fresh or same)[0]
    return None


def apply(st: AgentState, saved: dict[str, Any]) -> None:
    """Give every channel of ``st`` its saved model; the agent is monitoring from now on."""
    try:
        chans = saved["channels"]
        for ch in st.channels:
            chs = chans.get(ch.name)
            if chs is None:
                raise UsageError(f"the baseline file has no {ch.name} model for {st.ctx.agent_id}")
            ch.from_state(chs)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UsageError(f"malformed baseline file: {e!r}") from e
    st.phase = PHASE_MONITORING
    st.ctx.phase = PHASE_MONITORING


def write(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Durably: a temporary file, fsync, rename; a failure leaves no temp file and is one line."""
    data = msgpack.packb(state, use_bin_type=True, unicode_errors="surrogateescape")
    tmp = f"{os.fspath(path)}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StorageError.from_os("cannot write baseline", path, e) from None


def read(path: str | os.PathLike[str]) -> Any:
    """A file's decoded content (not yet checked: :func:`check`); unreadable or not msgpack is one line."""
    from h7.safeio import read_regular

    try:
        raw = read_regular(path, MAX_BASELINE_BYTES, "baseline")
        state = msgpack.unpackb(raw, raw=False, strict_map_key=False, unicode_errors="surrogateescape")
        del raw
    except OSError as e:
        raise UsageError(f"cannot read baseline {os.fspath(path)}: {e.strerror or e}") from e
    except (
        ValueError,
        TypeError,  # e.g. a map used as a map key (unhashable)
        msgpack.ExtraData,
        msgpack.FormatError,
        msgpack.StackError,
        RecursionError,
    ) as e:
        raise UsageError(f"{os.fspath(path)} is not a valid baseline file: {e}") from e
    return state
