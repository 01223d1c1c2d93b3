"""Round 4 benign act: a code-search-and-archive tool: grep -rn, find, sort, sha256sum, tar czf (no shell).

Each tool started directly by the agent (subprocess, argv lists), reading
its workspace and writing an archive into its scratch dir.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
BENIGN = True
EXPECT = ()


def run(args: dict[str, Any]) -> None:
    d = Path(args["scratch"])
    shutil.rmtree(d, ignore_errors=True)
    src = d / "src"
    src.mkdir(parents=True)
    for i in range(5):
        (src / f"mod{i}.txt").write_text(f"line one\n# TODO: item {i}\nline three\n")
    t = rt.now()
    g = subprocess.run(["grep", "-rn", "TODO", str(src)], capture_output=True, timeout=30, check=False)
    f = subprocess.run(["find", str(src), "-name", "*.txt"], capture_output=True, timeout=30, check=False)
    s = subprocess.run(["sort"], input=f.stdout, capture_output=True, timeout=30, check=False)
    h = subprocess.run(
        ["sha256sum", *s.stdout.decode().split()], capture_output=True, timeout=30, check=False
    )
    tgz = d / "src.tar.gz"
    a = subprocess.run(
        ["tar", "czf", str(tgz), "-C", str(d), "src"], capture_output=True, timeout=60, check=False
    )
    with tarfile.open(tgz) as tf:
        members = len(tf.getnames())
    rcs = [g.returncode, f.returncode, s.returncode, h.returncode, a.returncode]
    ok = rcs == [0] * 5 and g.stdout.count(b"TODO") == 5 and members == 6
    rt.report(
        t, ok, f"grep/find/sort/sha256sum/tar: {rcs}, {g.stdout.count(b'TODO')} hits, {members} in archive"
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
