"""A bash copy with one byte of its version string changed (same size, other hash).

Size matches /bin/bash exactly, the hash does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redteam import rt

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = True
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    scratch = Path(args["scratch"])
    data = Path("/bin/bash").read_bytes()
    at = data.find(b"GNU bash, version")
    off = at + 2 if at >= 0 else len(data) - 1
    exe = rt.copy_padded("/bin/bash", scratch / "gitlab-runner", patch_at=off)
    t = rt.now()
    rc = rt.run_child([str(exe), "-c", "exit 0"])
    rt.report(t, rc == 0, f"{exe} (patched) -c: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
