"""Child processes in process groups of their own: started with a log, stopped with all they forked.

The demo (``h7 demo``), the evaluation (eval/), the red team (redteam/) and
the benchmarks (bench/) all run real processes -- a sinkhole, ``h7 attach``,
agents, attackers -- that fork children of their own.  Each is started in a
new session, so one ``killpg`` reaches its whole tree, and stopped SIGTERM
first (a sensor signs its stop record on SIGTERM), SIGKILL after a grace
period, so an interrupted run leaves nothing attached, listening or tracing.

It lives in ``h7/`` (a leaf: it imports nothing of H7) because ``h7 demo``
needs it and ``h7/`` must not import eval/, redteam/ or bench/.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def spawn_logged(
    args: Sequence[str], log: Path, *, append: bool = False, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start ``args`` in a new session with stdout and stderr into ``log``.

    The log file stays open as long as the process runs (the child holds its
    own copy; ours is closed when the Popen object goes), so a process that
    outlives its starter still has somewhere to write.
    """
    f = open(log, "ab" if append else "wb")  # noqa: SIM115 - handed to the child, lives with the process
    try:
        return subprocess.Popen(
            list(args), stdout=f, stderr=subprocess.STDOUT, start_new_session=True, **popen
        )
    finally:
        f.close()  # the child has its own descriptor


def stop_groups(procs: Sequence[subprocess.Popen[Any]], timeout: float = 10.0) -> None:
    """SIGTERM every process group (newest first), wait up to ``timeout`` s each, then SIGKILL.

    All groups are signalled before any is waited for, so a slow one does not
    delay the others' shutdown; newest first because later processes tend to
    depend on earlier ones (an attacker on the agent, the sensor on the
    sinkhole).  Members a group leader left behind are killed once the leader
    is gone (the group id cannot be reused while any member lives).
    """
    for p in reversed(procs):
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)


def poll_until(pred: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """True as soon as ``pred()`` is; False when ``timeout`` s pass first (callers say what timed out)."""
    end = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)
