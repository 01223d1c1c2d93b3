"""Round 10: a command written into a running job runner's stdin PIPE through /proc/RUNNER/fd/0.

Gap 5 (leaving through a daemon).  A host job runner (staged before the
victims, outside their trees) reads commands from its stdin, an ANONYMOUS
pipe whose write end its supervisor holds -- the shape of ``tail -f queue |
sh`` and of supervisor-fed workers.  The agent opens ``/proc/RUNNER/fd/0``
for writing (procfs hands out the pipe itself) and writes ``touch MARKER``;
the runner runs it with ``sh -c``.  No socket, no named FIFO, no file: the
only path names the runner's fd.
A detection: L2 DAEMON_HANDOFF (a receiver-exec of the runner's ``sh``) for
the attacked agent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 5
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 10
STAGE = True
EXPECT = ("L2",)
NAME = "r10-piperunner-a"


def _files(work: str, name: str) -> tuple[Path, Path]:
    d = Path(work).parent / "daemons"
    return d / f"{name}.info", d / f"{name}.pid"


def stage_runner(args: dict[str, Any], name: str) -> None:
    info, pid = _files(args["work"], name)
    info.unlink(missing_ok=True)
    rt.stage_daemon(rt.sink_argv("piperunner", str(info), script="_r10_sink.py"), pid, info.exists)


def stage(args: dict[str, Any]) -> None:
    stage_runner(args, NAME)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args["work"], NAME)[1])


def runner_info(args: dict[str, Any], name: str) -> tuple[int, int, int]:
    """(runner pid, holder pid, the holder's write-end fd) as the staged runner reported them."""
    runner, holder, wfd = (int(x) for x in _files(args["work"], name)[0].read_text().split())
    return runner, holder, wfd


def run(args: dict[str, Any]) -> None:
    marker = str(args["marker"])
    runner, _, _ = runner_info(args, NAME)
    t = rt.now()
    fd = os.open(f"/proc/{runner}/fd/0", os.O_WRONLY)
    try:
        n = os.write(fd, f"touch '{marker}'\n".encode())
    finally:
        os.close(fd)
    ok = rt.wait_file(marker)
    rt.report(
        t,
        ok,
        f"/proc/{runner}/fd/0 (a pipe) opened for writing, {n} B; marker {'created' if ok else 'missing'}",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
