"""A script whose #! line names a padded perl copy, executed directly.

The interpreter the kernel loads is an unknown file with an unknown name.
"""

from __future__ import annotations

import os
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
    interp = rt.copy_padded(os.path.realpath("/usr/bin/perl"), scratch / "runner", pad=b"\0" * 5)
    script = scratch / "task.pl"
    script.write_text(f"#!{interp}\nexit 0;\n")
    script.chmod(0o755)
    t = rt.now()
    rc = rt.run_child([str(script)])
    rt.report(t, rc == 0, f"{script} via {interp}: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
