"""Round 3: a script whose #! line is `/usr/bin/env -S sh -e`, run by its path.

The kernel's interpreter is env; env -S splits the rest and executes the
shell itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 6
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 3
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    scratch = Path(args["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    script = scratch / "check-style"
    script.write_text("#!/usr/bin/env -S sh -e\nexit 3\n")
    os.chmod(script, 0o755)
    t = rt.now()
    rc = rt.run_child([str(script)])
    rt.report(t, rc == 3, f"{script} (#!/usr/bin/env -S sh -e): exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
