"""Round 7: a command sent to a Python RPC worker (multiprocessing.managers over a unix socket) that runs it.

The shape of dask/ray/celery workers and "code execution" sidecars: a
Python process outside the tree (staged before the victims) serves an
authenticated manager with a ``run(cmd)`` method.  The daemon is a plain
``python3``, not a tmux/screen/atd; the wire protocol is pickle over a unix
stream socket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redteam import rt

GAP = 5
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 7
STAGE = True
EXPECT = ("L2",)


def _files(work: str) -> tuple[Path, Path, Path]:
    d = Path(work).parent / "daemons"
    return d / "r7-worker.sock", d / "r7-worker.key", d / "r7-worker.pid"


def stage(args: dict[str, Any]) -> None:
    sock, key, pid = _files(args["work"])
    key.unlink(missing_ok=True)
    rt.stage_daemon(
        rt.sink_argv("mpmgr", str(sock), str(key), script="_r7_sink.py"),
        pid,
        lambda: sock.exists() and key.exists() and bool(key.read_text()),
    )


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args["work"])[2])


def run(args: dict[str, Any]) -> None:
    from multiprocessing.managers import BaseManager

    class Worker(BaseManager):
        pass

    Worker.register("run")
    marker = str(args["marker"])
    sock, key, _ = _files(args["work"])
    mgr = Worker(address=str(sock), authkey=bytes.fromhex(key.read_text()))
    t = rt.now()
    mgr.connect()
    rc = mgr.run(f"touch '{marker}'")  # type: ignore[attr-defined]
    ok = rt.wait_file(marker, 5)
    rt.report(t, ok, f"manager.run() on {sock.name}: rc {rc}, marker {'created' if ok else 'missing'}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
