"""Round 8: a /proc/PID/mem fd opened BEFORE the sensor attached, used after the baseline (staggered).

A helper outside the agent's tree (staged before the victims: a "monitoring
agent" already on the host) opens the agent's /proc/PID/mem O_RDWR the moment
the agent writes its pid file -- seconds before ``h7 attach`` loads anything.
The access check happens at open only; this variant, long after the
baseline, just hands the helper an address and it rewrites 32 heap bytes
through the fd it has held all along (pread + pwrite, as they were).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redteam import rt

GAP = 2
MODE = "external"
TARGET = "host"
HELD_OUT = True
ROUND = 8
STAGE = True
EXPECT = ("L5",)


def _files(work: str) -> tuple[Path, Path, Path, Path]:
    d = Path(work).parent
    run = d / "daemons"
    return d / "victim.pid", run / "r8-premem.trigger", run / "r8-premem.result", run / "r8-premem.pid"


def stage(args: dict[str, Any]) -> None:
    pidfile, trigger, result, pid = _files(args["work"])
    for f in (trigger, result, result.with_suffix(".held")):
        f.unlink(missing_ok=True)
    argv = rt.sink_argv("premem", str(pidfile), str(trigger), str(result), script="_r8_sink.py")
    rt.stage_daemon(argv, pid, lambda: True)


def unstage(args: dict[str, Any]) -> None:
    rt.unstage_daemon(_files(args["work"])[3])


def run(args: dict[str, Any]) -> None:
    _, trigger, result, _ = _files(args["work"])
    held = result.with_suffix(".held")
    if not held.exists():
        rt.report(rt.now(), False, "the helper never opened the victim's mem")
        return
    opened_pid, opened_ns = held.read_text().split()
    addr = rt.target_addr(args, args["pid"])
    t = rt.now()
    trigger.write_text(str(addr))
    ok = rt.wait_file(result, 10)
    outcome = result.read_text() if ok else "no result"
    rt.report(
        t,
        outcome.startswith("ok 32") and opened_pid == str(args["pid"]),
        f"mem of {opened_pid} held since {(t - int(opened_ns)) / 1e9:.0f} s before the act: {outcome}",
    )


if __name__ == "__main__":
    rt.main(run, globals())
