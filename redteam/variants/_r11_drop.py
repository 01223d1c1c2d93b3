"""Round 11's shared pieces (not a variant: the leading underscore keeps it out of the suite).

Every round-11 attack hands the same kind of program to a long-running host service staged
before the victims (``_r11_sink.py``) and runs what the service made of it.  The program is
redteam/native/r9_probe.c (it creates the marker named by argv[1]), built at stage time; each
act appends 512 random bytes to it, so no two acts (and no earlier round) hand over the same
bytes, and each variant's program has a name of its own.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from redteam import rt


def daemons(args: dict[str, Any]) -> Path:
    return Path(args["work"]).parent / "daemons"


def payload_path(args: dict[str, Any], tag: str) -> Path:
    return daemons(args) / f"r11-payload-{tag}"


def stage_payload(args: dict[str, Any], tag: str) -> Path:
    """Build the program (gcc, at stage time: a compiler run inside the agent would be an act of its own)."""
    return rt.build_tool("r9_probe.c", payload_path(args, tag))


def payload(args: dict[str, Any], tag: str) -> bytes:
    """The program's bytes as this act hands them over: the staged build + 512 random bytes."""
    return payload_path(args, tag).read_bytes() + os.urandom(512)


def run_tool(argv: list[str], marker: str, **kw: Any) -> tuple[int, str, bool]:
    """Run the program (bounded); (exit status or -1, error text, marker made)."""
    try:
        rc = subprocess.run(argv, timeout=20, check=False, capture_output=True, **kw).returncode
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, repr(e), False
    return rc, "", rt.wait_file(marker, 5)


def run_and_report(t_prep: int, tool: Path, marker: str, made: bool, how: str) -> None:
    """Run ``tool MARKER`` once the service made it, and report the act (its time: the exec)."""
    if not made:
        rt.report(t_prep, False, f"{how}: {tool.name} never appeared")
        return
    t = rt.now()
    rc, err, ok = run_tool([str(tool), marker], marker)
    rt.report(
        t,
        rc == 0 and ok,
        f"{how}; {tool.parent.name}/{tool.name} rc {rc}{' ' + err if err else ''}, marker {ok}",
    )
