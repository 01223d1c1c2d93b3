"""Session 29's staging helpers: deploy jobs that copy an outbox through userspace (no in-kernel copy).

    python _s29_sink.py copier HOW SRC DST   # every 0.1 s: each finished SRC/*.bin copied to DST/<stem>,
                                           # mode 0755, then the source dropped; HOW is how the bytes move:
        dd       a fresh `dd if=SRC of=TMP` per file (read + write in a young child)
        tarpipe  a fresh `tar -C SRC -cf - F | tar -C TMPDIR -xf -` per file (through a pipe)
        inproc   this long-running helper reads and writes the bytes itself (open/read/write/close)
        gunzip   the same, but each SRC/*.bin is gzip and is written decompressed (session 30: a
                 copier that changes the length, the copier rule's documented blind spot)
        chunks   each SRC/*.bin is a manifest ("N"): SRC/<stem>.part0..N-1 concatenated, in this
                 helper, into the copy (session 31: a chunked upload's assembler)

Every mode lives at most LIFETIME_S, polls with bounded sleeps, and stops on SIGTERM.  Commands run
with a 20-s timeout each, as the helper's own children (outside every victim's tree).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIFETIME_S = 4 * 3600
CMD_TIMEOUT_S = 20


def _copy(how: str, f: Path, tmp: Path) -> None:
    if how == "dd":
        subprocess.run(
            ["dd", f"if={f}", f"of={tmp}", "bs=65536", "status=none"], timeout=CMD_TIMEOUT_S, check=True
        )
    elif how == "tarpipe":
        with tempfile.TemporaryDirectory(dir=tmp.parent) as d:
            subprocess.run(
                ["sh", "-c", 'tar -C "$1" -cf - "$2" | tar -C "$3" -xf -', "sh", str(f.parent), f.name, d],
                timeout=CMD_TIMEOUT_S,
                check=True,
            )
            os.replace(Path(d) / f.name, tmp)
    elif how == "gunzip":
        with gzip.open(f, "rb") as i, open(tmp, "wb") as o:
            for _ in range(1 << 14):  # bounded: 1 GiB at 64 KiB a read
                b = i.read(65536)
                if not b:
                    break
                o.write(b)
    elif how == "chunks":
        n = int(f.read_text().split()[0])
        if not 0 < n <= 64:
            raise ValueError(f"{f}: {n} parts")
        with open(tmp, "wb") as whole:
            for k in range(n):
                whole.write(f.with_suffix(f".part{k}").read_bytes())
    elif how == "inproc":
        with open(f, "rb") as i, open(tmp, "wb") as o:
            for _ in range(1 << 14):  # bounded: 1 GiB at 64 KiB a read
                b = i.read(65536)
                if not b:
                    break
                o.write(b)
    else:
        raise SystemExit(f"_s29_sink: unknown copy {how}")


def copier(how: str, src: Path, dst: Path) -> None:
    """Copy each finished ``SRC/*.bin`` to ``DST/<stem>`` (0755) by ``how``, then drop the source."""
    src.mkdir(parents=True, exist_ok=True)
    dst.mkdir(parents=True, exist_ok=True)
    end = time.monotonic() + LIFETIME_S
    while time.monotonic() < end:
        for f in sorted(src.glob("*.bin")):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                tmp = dst / f".{f.stem}.part"
                _copy(how, f, tmp)
                os.chmod(tmp, 0o755)
                os.replace(tmp, dst / f.stem)
                f.unlink()
        time.sleep(0.1)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if sys.argv[1] != "copier":
        raise SystemExit(f"_s29_sink: unknown mode {sys.argv[1]}")
    copier(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))


if __name__ == "__main__":
    main()
