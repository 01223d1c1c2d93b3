"""Round 9 benign act: recode a folder of legacy Latin-1 documents to UTF-8 with iconv, check with file(1).

A documentation chore: ``iconv -f ISO-8859-1 -t UTF-8`` over a handful of
files (glibc loads its own installed gconv module for Latin-1), ``file -i``
to confirm the charset, ``sha256sum`` of the results.  The counterpart of
round 9's gconv-module variant: the same program, the installed module.
"""

from __future__ import annotations

import subprocess
from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 9
BENIGN = True
EXPECT = ()


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    src, out = d / "legacy", d / "utf8"
    src.mkdir()
    out.mkdir()
    for i in range(6):
        (src / f"chapter{i}.txt").write_bytes(
            f"Chapter {i}: caf\xe9, na\xefve, se\xf1or\n".encode("latin-1") * 20
        )
    t = rt.now()
    rcs = []
    for f in sorted(src.iterdir()):
        r = subprocess.run(
            ["iconv", "-f", "ISO-8859-1", "-t", "UTF-8", str(f)], capture_output=True, timeout=30, check=False
        )
        rcs.append(r.returncode)
        (out / f.name).write_bytes(r.stdout)
    kinds = subprocess.run(
        ["file", "-i", *sorted(map(str, out.iterdir()))],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    rcs.append(rt.run_child(["sha256sum", *sorted(map(str, out.iterdir()))]))
    ok = all(rc == 0 for rc in rcs) and kinds.count("utf-8") == 6
    rt.report(t, ok, f"iconv x6 + file -i + sha256sum: rcs {rcs}, utf-8 files {kinds.count('utf-8')}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
