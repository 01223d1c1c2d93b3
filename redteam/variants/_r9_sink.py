"""Round 9 staging helper (not a variant: the leading underscore keeps it out of the suite).

What a round-9 variant's ``stage()`` starts BEFORE the victims, outside their
trees -- programs a developer host really runs, which the attacked agent can
reach without starting anything itself:

    python _r9_sink.py webhook IP PORTFILE      # a webhook receiver: reads one line, answers 202 and
                                                # CLOSES the connection, then runs the line with sh -c
    python _r9_sink.py cmdsvc IP PORTFILE       # a command service: runs each line with sh -c while the
                                                # connection is open, answers with the exit status
    python _r9_sink.py copier SRC DST           # an artifact sync: copies every SRC/*.bin to DST/<stem>,
                                                # mode 0755 (a build cache / deploy step)
    python _r9_sink.py watcher DIR              # an `entr`-style watcher: runs `make -C DIR` whenever
                                                # DIR/Makefile changes

Every mode lives at most LIFETIME_S, polls with bounded sleeps, and stops on
SIGTERM.  Commands run with a 20-s timeout each, as the helper's own children
(outside every victim's tree).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from _r7_sink import _loopback  # the same loopback guard (this directory is on sys.path)

LIFETIME_S = 4 * 3600
CMD_TIMEOUT_S = 20


def _listen(ip: str, portfile: Path) -> socket.socket:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((_loopback(ip), 0))
    srv.listen(8)
    srv.settimeout(1.0)
    tmp = portfile.with_suffix(".tmp")
    tmp.write_text(str(srv.getsockname()[1]))
    os.replace(tmp, portfile)
    return srv


def _line(c: socket.socket) -> str:
    """One newline-terminated line from a client (bounded: 4 KiB, 5 s)."""
    c.settimeout(5)
    buf = b""
    while b"\n" not in buf and len(buf) < 4096:
        part = c.recv(4096)
        if not part:
            break
        buf += part
    return buf.split(b"\n", 1)[0].decode(errors="replace").strip()


def _sh(cmd: str) -> int:
    try:
        return subprocess.run(
            ["/bin/sh", "-c", cmd], timeout=CMD_TIMEOUT_S, check=False, capture_output=True
        ).returncode
    except subprocess.TimeoutExpired:
        return -1


def webhook(ip: str, portfile: Path) -> None:
    """Accept, read the job, answer ``202 Accepted``, close -- and only then run it.

    The shape of every "queue the job, reply at once" webhook receiver: the
    command runs after the connection that carried it is gone.
    """
    srv = _listen(ip, portfile)
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        try:
            c, _ = srv.accept()
        except TimeoutError:
            continue
        cmd = ""
        with c, contextlib.suppress(OSError):
            cmd = _line(c)
            c.sendall(b"HTTP/1.0 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        if cmd:
            time.sleep(0.05)  # the job queue's hand-over
            _sh(cmd)


def cmdsvc(ip: str, portfile: Path) -> None:
    """Run every line a client sends with ``sh -c`` while its connection is open; answer the status."""
    srv = _listen(ip, portfile)
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        try:
            c, _ = srv.accept()
        except TimeoutError:
            continue
        with c, contextlib.suppress(OSError):
            cmd = _line(c)
            if cmd:
                c.sendall(f"{_sh(cmd)}\n".encode())


def copier(src: Path, dst: Path) -> None:
    """Copy each finished ``SRC/*.bin`` to ``DST/<stem>`` (0755), then drop the source (0.1-s poll)."""
    src.mkdir(parents=True, exist_ok=True)
    dst.mkdir(parents=True, exist_ok=True)
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        for f in sorted(src.glob("*.bin")):
            with contextlib.suppress(OSError):
                out = dst / f.stem
                tmp = dst / f".{f.stem}.part"
                shutil.copyfile(f, tmp)
                os.chmod(tmp, 0o755)
                os.replace(tmp, out)
                f.unlink()
        time.sleep(0.1)


def watcher(d: Path) -> None:
    """Re-run ``make -C DIR`` when DIR/Makefile's mtime or size changes (0.2-s poll, as entr -p)."""
    mk = d / "Makefile"
    seen: tuple[int, int] | None = None
    with contextlib.suppress(OSError):
        st = mk.stat()
        seen = (st.st_mtime_ns, st.st_size)
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        with contextlib.suppress(OSError):
            st = mk.stat()
            now = (st.st_mtime_ns, st.st_size)
            if now != seen:
                seen = now
                time.sleep(0.1)  # let the editor finish writing
                with contextlib.suppress(subprocess.TimeoutExpired):
                    subprocess.run(
                        ["make", "-s", "-C", str(d)], timeout=CMD_TIMEOUT_S, check=False, capture_output=True
                    )
        time.sleep(0.2)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    mode = sys.argv[1]
    if mode == "webhook":
        webhook(sys.argv[2], Path(sys.argv[3]))
    elif mode == "cmdsvc":
        cmdsvc(sys.argv[2], Path(sys.argv[3]))
    elif mode == "copier":
        copier(Path(sys.argv[2]), Path(sys.argv[3]))
    elif mode == "watcher":
        watcher(Path(sys.argv[2]))
    else:
        raise SystemExit(f"_r9_sink: unknown mode {mode}")


if __name__ == "__main__":
    main()
