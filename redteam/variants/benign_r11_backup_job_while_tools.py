"""Round 11 benign act: a host backup job tars the agent's project each second while it runs system tools.

A backup job on the host (staged before the victims, outside their trees:
a plain python3 service, ``_r11_sink.py backup``, running ``tar -czf`` of
``project-r11/`` once a second into its own directory) reads every file the
agent writes there.  Meanwhile the agent edits notes and a log over about
3 s and runs the installed ``grep -c``, ``sort | uniq -c`` (two processes),
``wc -l`` and ``sha256sum`` on them, then lists the newest backup with
``tar -tzf``.  Every program that runs is an installed one.
"""

from __future__ import annotations

import subprocess
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
    return w.parent / "daemons" / "r11-backup.pid", w / "project-r11", w / "backups-r11"


def stage(args: dict[str, Any]) -> None:
    pidf, proj, out = _files(args)
    rt.stage_daemon(rt.sink_argv("backup", str(proj), str(out), script="_r11_sink.py"), pidf, out.exists)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args)[0])


def run(args: dict[str, Any]) -> None:
    _, proj, out = _files(args)
    proj.mkdir(parents=True, exist_ok=True)
    notes, log = proj / "NOTES.md", proj / "build.log"
    t = rt.now()
    rcs = []
    for i in range(6):
        with notes.open("a") as f:
            f.write(f"- step {i}: refactor parser, {i * 3} tests pass\n")
        with log.open("a") as f:
            f.write("".join(f"{'WARN' if j % 5 == 0 else 'INFO'} unit {j} built\n" for j in range(50)))
        rcs.append(rt.run_child(["grep", "-c", "WARN", str(log)]))
        rcs.append(rt.run_child(["sh", "-c", f"sort '{log}' | uniq -c > /dev/null"]))
        rcs.append(rt.run_child(["wc", "-l", str(notes), str(log)]))
        rcs.append(rt.run_child(["sha256sum", str(notes)]))
        time.sleep(0.5)
    backups = sorted(out.glob("backup-*.tgz"), key=lambda p: p.stat().st_mtime)
    listed = ""
    if backups:
        r = subprocess.run(["tar", "-tzf", str(backups[-1])], capture_output=True, text=True, timeout=30)
        listed = " ".join(sorted(x for x in r.stdout.split() if x.endswith((".md", ".log"))))
    ok = all(rc in (0, 1) for rc in rcs) and bool(backups)
    rt.report(
        t, ok, f"24 tool runs (rcs ok {all(rc in (0, 1) for rc in rcs)}); backups {len(backups)}: {listed}"
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
