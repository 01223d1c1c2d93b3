"""Round 8 staging helper (not a variant: the leading underscore keeps it out of the suite).

What a round-8 variant's ``stage()`` starts BEFORE the victims, outside their
trees -- programs a developer host really runs, which the attacked agent can
reach without starting anything itself:

    python _r8_sink.py premem PIDFILE TRIGGER RESULT  # opens the victim's /proc/PID/mem as soon as it
                                                      # exists (before any sensor), acts on TRIGGER
    python _r8_sink.py outbox DIR IP PORTFILE         # a sync client: uploads every DIR/*.out to IP:PORT
    python _r8_sink.py ci REPO                        # a CI runner: runs HEAD's ci.sh when REPO's main moves
    python _r8_sink.py repl SOCKPATH                  # a "manhole": a Python console on a unix socket
    python _r8_sink.py node-inspect SCRIPT LOG        # node --inspect=127.0.0.1:0 SCRIPT, stderr in LOG

Every mode lives at most
LIFETIME_S, polls with bounded sleeps, and stops on SIGTERM.
"""

from __future__ import annotations

import code
import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from _r7_sink import _loopback  # the same loopback guard (this directory is on sys.path)

LIFETIME_S = 4 * 3600
CMD_TIMEOUT_S = 20


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def premem(pidfile: Path, trigger: Path, result: Path) -> None:
    """Hold the victim's memory open from its first moments, use it much later.

    The fd is opened while no sensor is loaded (the victim has just written its
    pid file; the harness attaches only after it has read the victims' heaps
    and run ``h7 doctor``).  A /proc/PID/mem fd is checked at open, not at
    read/write: the rewrite on TRIGGER (its content is the address) needs no
    new access to the victim.
    """
    start = time.time()
    end = time.monotonic() + LIFETIME_S
    fd = -1
    while time.monotonic() < end and fd < 0:
        with contextlib.suppress(OSError, ValueError, IndexError):
            if pidfile.stat().st_mtime >= start:  # not a stale file of an earlier run
                pid = int(pidfile.read_text().split()[0])
                fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
                _write(result.with_suffix(".held"), f"{pid} {time.time_ns()}")
        time.sleep(0.01)
    while time.monotonic() < end:
        with contextlib.suppress(OSError, ValueError):
            addr = int(trigger.read_text())
            trigger.unlink()
            try:
                n = os.pwrite(fd, os.pread(fd, 32, addr), addr)
                _write(result, f"ok {n}")
            except OSError as e:
                _write(result, f"failed {e}")
        time.sleep(0.05)


def outbox(d: Path, ip: str, portfile: Path) -> None:
    """A folder-sync client (like rclone/Dropbox-style uploaders): new files are uploaded, then removed.

    The "cloud" end is a round-6 TCP sink (``_r6_sink.py tcp``) on ``ip``,
    its port in ``portfile``; it counts what arrived.
    """
    d.mkdir(parents=True, exist_ok=True)
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        for f in sorted(d.glob("*.out")):
            with contextlib.suppress(OSError, ValueError):
                data = f.read_bytes()
                with socket.create_connection((_loopback(ip), int(portfile.read_text())), timeout=10) as up:
                    up.sendall(data)
                f.unlink()
        time.sleep(0.2)


def ci(repo: Path) -> None:
    """A self-hosted CI runner: when the repository's main branch moves, run that commit's ci.sh."""
    ref = repo / ".git" / "refs" / "heads" / "main"
    seen = ref.read_text().strip()
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        time.sleep(0.2)
        with contextlib.suppress(OSError):
            head = ref.read_text().strip()
            if head and head != seen:
                seen = head
                with contextlib.suppress(subprocess.TimeoutExpired):
                    subprocess.run(
                        ["/bin/sh", "-c", f"git --git-dir='{repo}/.git' show {head}:ci.sh | sh"],
                        cwd=repo, timeout=CMD_TIMEOUT_S, check=False, capture_output=True,
                    )  # fmt: skip


def repl(sockpath: str) -> None:
    """A debugging backdoor services ship (manhole, twisted.manhole): a Python console on a unix socket.

    Every line received is run in this process by ``code.InteractiveInterpreter``;
    nothing is exec'd: whatever the line does, this daemon does it itself.
    """
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sockpath)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sockpath)
    os.chmod(sockpath, 0o600)
    srv.listen(2)
    interp = code.InteractiveInterpreter({"__name__": "__manhole__"})
    threading.Timer(LIFETIME_S, lambda: os._exit(0)).start()
    while True:
        c, _ = srv.accept()
        with c, c.makefile("rw") as f:
            for line in f:
                out = io.StringIO()
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                    interp.runsource(line.rstrip("\n"))
                f.write(out.getvalue() + ">>> \n")
                f.flush()


def node_inspect(script: str, log: Path) -> None:
    """A Node dev server left running with its inspector on (``--inspect``, random loopback port)."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    os.execvp("node", ["node", "--inspect=127.0.0.1:0", script])


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "premem":
        premem(Path(rest[0]), Path(rest[1]), Path(rest[2]))
    elif mode == "outbox":
        outbox(Path(rest[0]), rest[1], Path(rest[2]))
    elif mode == "ci":
        ci(Path(rest[0]))
    elif mode == "repl":
        repl(rest[0])
    elif mode == "node-inspect":
        node_inspect(rest[0], Path(rest[1]))
    else:
        raise SystemExit(f"_r8_sink: unknown mode {mode}")


if __name__ == "__main__":
    main()
