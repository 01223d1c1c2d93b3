"""Round 4: a padded busybox copy named indexer2, run as `busybox sh -c` (the applet chosen by argv[1]).

The exec'd file is indexer2, argv[0] says "busybox" and the applet name
comes second: busybox's `busybox APPLET ARGS` form, not an applet argv[0].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redteam import rt

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    exe = rt.copy_padded("/bin/busybox", Path(args["scratch"]) / "indexer2", pad=b"\0idx-2.1\0")
    t = rt.now()
    rc = rt.run_child(["busybox", "sh", "-c", "exit 3"], executable=str(exe))
    rt.report(t, rc == 3, f"{exe} as `busybox sh -c 'exit 3'`: exit {rc}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
