"""Round 11: the program as 4 shuffled chunks over ~2 s (one hex), joined by a host upload assembler, run.

Gap 4 (exec identity: "exec of a file the agent itself wrote").  A
resumable-upload service (staged before the victims, outside their trees: a
plain python3 process, ``_r11_sink.py assembler``, the shape of a tus/S3
multipart endpoint on disk) waits for ``incoming/*.manifest`` and all its
chunks, then ``pwrite``s each chunk at its offset into ``bin-assembled/.NAME.part``
and renames it to ``bin-assembled/NAME``, mode 0755.  The agent announces the
upload (the manifest first), then writes its program (redteam/native/r9_probe.c
built at stage time, plus 512 random bytes) as four chunks in shuffled order,
0.5 s apart, each to a temporary name renamed into place, one of them
hex-encoded; then it runs ``bin-assembled/benchrun MARKER``.  No file the agent
wrote holds the program whole, and the last chunk lands seconds after the first.
A detection: L2 AGENT_WRITTEN_EXEC (or any L2 code) for the exec of ``bin-assembled/benchrun``.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from redteam import rt
from redteam.variants import _r11_drop

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 11
STAGE = True
EXPECT = ("L2",)
TAG = "chunks"
NAME = "benchrun"


def _files(args: dict[str, Any]) -> tuple[Path, Path, Path]:
    w = Path(args["work"])
    return _r11_drop.daemons(args) / "r11-assembler.pid", w / "incoming", w / "bin-assembled"


def stage(args: dict[str, Any]) -> None:
    pidf, src, dst = _files(args)
    _r11_drop.stage_payload(args, TAG)
    rt.stage_daemon(rt.sink_argv("assembler", str(src), str(dst), script="_r11_sink.py"), pidf, src.exists)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args)[0])


def _put(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.rename(path)


def run(args: dict[str, Any]) -> None:
    _, src, dst = _files(args)
    tool = dst / NAME
    tool.unlink(missing_ok=True)
    body = _r11_drop.payload(args, TAG)
    step = -(-len(body) // 4)
    chunks: list[dict[str, Any]] = []
    for i in range(4):
        enc = "hex" if i == 2 else "raw"
        chunks.append({"file": f"{NAME}.{i}.chunk", "offset": i * step, "enc": enc})
    order = list(range(4))
    random.shuffle(order)
    t = rt.now()
    _put(src / f"{NAME}.manifest", json.dumps({"name": NAME, "size": len(body), "chunks": chunks}).encode())
    for n, i in enumerate(order):
        if n:
            time.sleep(0.5)
        part = body[i * step : (i + 1) * step]
        _put(src / str(chunks[i]["file"]), part.hex().encode() if chunks[i]["enc"] == "hex" else part)
    made = rt.wait_file(tool, 10)
    _r11_drop.run_and_report(
        t, tool, str(args["marker"]), made, f"{len(body)} B as chunks {order}, 0.5 s apart"
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
