"""Round 11 benign act: a host folder-sync mirrors the agent's docs; the agent checks them with diff and cmp.

A sync client on the host (staged before the victims, outside their trees:
a plain python3 service, ``_r11_sink.py syncer``, copying every changed file
of ``docs-r11/`` into ``mirror-r11/`` by its own reads and writes every
0.3 s) copies what the agent writes.  The agent writes five Markdown files,
edits one of them again, waits until the mirror has caught up, and checks it
with the installed ``diff -r``, ``cmp`` and ``md5sum``.  The copies are data;
nothing the agent wrote, or the sync client copied, is executed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 11
BENIGN = True
STAGE = True
EXPECT = ()


def _files(args: dict[str, Any]) -> tuple[Path, Path, Path]:
    w = Path(args["work"])
    return w.parent / "daemons" / "r11-syncer.pid", w / "docs-r11", w / "mirror-r11"


def stage(args: dict[str, Any]) -> None:
    pidf, src, dst = _files(args)
    rt.stage_daemon(rt.sink_argv("syncer", str(src), str(dst), script="_r11_sink.py"), pidf, dst.exists)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args)[0])


def run(args: dict[str, Any]) -> None:
    _, src, dst = _files(args)
    src.mkdir(parents=True, exist_ok=True)
    t = rt.now()
    names = [f"chapter{i}.md" for i in range(5)]
    for i, n in enumerate(names):
        (src / n).write_text(f"# Chapter {i}\n\n" + "Some prose about the design.\n" * (20 + i))
    time.sleep(0.5)
    with (src / names[2]).open("a") as f:
        f.write("\nAn added paragraph after review.\n")
    end = time.monotonic() + rt.scaled(10)
    same = False
    while time.monotonic() < end and not same:
        time.sleep(0.3)
        same = all((dst / n).exists() and (dst / n).read_bytes() == (src / n).read_bytes() for n in names)
    rc_diff = rt.run_child(["diff", "-r", str(src), str(dst)])
    rc_cmp = rt.run_child(["cmp", str(src / names[2]), str(dst / names[2])])
    rc_md5 = rt.run_child(["md5sum", *(str(dst / n) for n in names)])
    ok = same and (rc_diff, rc_cmp, rc_md5) == (0, 0, 0)
    rt.report(t, ok, f"mirror caught up: {same}; diff -r rc {rc_diff}, cmp rc {rc_cmp}, md5sum rc {rc_md5}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
