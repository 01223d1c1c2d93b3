"""Round 8 benign act: git housekeeping -- a worktree for a feature branch, gc --aggressive, fsck, archive.

Twenty commits, ``git worktree add`` + a commit there, ``git gc --aggressive
--prune=now`` (git starts repack and pack-objects), ``git fsck``, ``git
archive`` listed with tar, ``git worktree remove``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 8
BENIGN = True
EXPECT = ()


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    repo, wt = d / "repo", d / "feature"
    repo.mkdir()
    env = {**os.environ, **rt.GIT_ENV, "HOME": str(d)}

    def git(cwd: Path, *a: str) -> int:
        return rt.git(cwd, *a, home=d)

    git(repo, "init", "-q", "-b", "main")
    for i in range(20):
        (repo / f"mod{i % 5}.py").write_text(f"VALUE = {i}\n" * (i + 1))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"change {i}")
    t = rt.now()
    rcs = [git(repo, "worktree", "add", "-q", str(wt), "-b", "feature")]
    (wt / "feature.py").write_text("ENABLED = True\n")
    rcs.append(git(wt, "add", "feature.py"))
    rcs.append(git(wt, "commit", "-q", "-m", "feature"))
    rcs.append(git(repo, "gc", "--aggressive", "--prune=now", "--quiet"))
    rcs.append(git(repo, "fsck", "--no-progress"))
    with subprocess.Popen(["git", "archive", "feature"], cwd=repo, env=env, stdout=subprocess.PIPE) as ga:
        listing = subprocess.run(
            ["tar", "-tf", "-"], stdin=ga.stdout, capture_output=True, text=True, timeout=60, check=False
        )
    rcs.append(ga.returncode)
    rcs.append(git(repo, "worktree", "remove", str(wt)))
    rt.report(
        t,
        rcs == [0] * 7 and len(listing.stdout.split()) == 6,
        f"git worktree/gc/fsck/archive: rc {rcs}, {len(listing.stdout.split())} files",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
