"""Session 29's DEV variants' shared body (not a variant: the leading underscore keeps it out of the suite).

The agent writes a native program (redteam/native/r9_probe.c, built at stage time) into
``outbox-HOW/fmt.bin``; a deploy job staged before the victims, outside their trees
(``_s29_sink.py copier HOW``), copies it to ``bin-HOW/fmt`` its own way; the agent runs the copy.
Each variant names only HOW.
"""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path
from typing import Any

from redteam import rt


def _files(work: str, how: str) -> tuple[Path, Path, Path, Path]:
    d = Path(work).parent / "daemons"
    w = Path(work)
    return d / f"s29-payload-{how}", w / f"outbox-{how}", w / f"bin-{how}", d / f"s29-copier-{how}.pid"


def stage(args: dict[str, Any], how: str) -> None:
    payload, outbox, bindir, pid = _files(args["work"], how)
    rt.build_tool("r9_probe.c", payload)
    rt.stage_daemon(
        rt.sink_argv("copier", how, str(outbox), str(bindir), script="_s29_sink.py"), pid, outbox.exists
    )


def unstage(args: dict[str, Any], how: str) -> None:
    rt.unstage_daemon(_files(args["work"], how)[3])


def run(args: dict[str, Any], how: str) -> None:
    marker = str(args["marker"])
    payload, outbox, bindir, _ = _files(args["work"], how)
    tool = bindir / "fmt"
    tool.unlink(missing_ok=True)
    data = payload.read_bytes()
    if how == "gunzip":  # the deploy job decompresses: the agent drops the program gzip'd
        data = gzip.compress(data)
    if how == "chunks":  # the agent uploads the program in three parts, then the manifest
        step = -(-len(data) // 3)
        for i in range(3):
            (outbox / f"fmt.part{i}").write_bytes(data[i * step : (i + 1) * step])
        (outbox / "fmt.bin").write_text("3\n")
    else:
        (outbox / "fmt.bin").write_bytes(data)  # the drop: the agent writes the program
    copied = rt.wait_file(tool, 10)
    t = rt.now()
    try:
        rc = subprocess.run([str(tool), marker], timeout=20, check=False, capture_output=True).returncode
    except (OSError, subprocess.TimeoutExpired) as e:
        rt.report(t, False, f"copy {'made' if copied else 'missing'}; exec failed: {e!r}")
        return
    ok = rt.wait_file(marker, 5)
    rt.report(
        t,
        rc == 0 and ok,
        f"outbox/fmt.bin copied by the {how} deploy job: {copied}; bin/fmt rc {rc}, marker {ok}",
    )
