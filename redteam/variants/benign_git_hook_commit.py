"""Round 3 benign act: the agent commits in its repository; its pre-commit hook runs (learnt in baseline).

During the baseline (WARMUP) it creates the repository, installs a
`#!/bin/sh` pre-commit hook and commits; afterwards it edits and commits
again: git runs the same hook through /bin/sh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 3
BENIGN = True
WARMUP = True
EXPECT = ()
GIT = ["git", "-c", "user.name=agent", "-c", "user.email=agent@localhost", "-c", "init.defaultBranch=main"]


def run(args: dict[str, Any]) -> None:
    repo = Path(args["work"]) / "r3repo"
    rcs = []
    if args.get("warmup") or not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        rcs.append(rt.run_child([*GIT, "init", "-q", str(repo)]))
        hook = repo / ".git" / "hooks" / "pre-commit"
        hook.write_text("#!/bin/sh\ngit diff --cached --name-only >/dev/null\nexit 0\n")
        hook.chmod(0o755)
    n = len(list(repo.glob("*.txt")))
    (repo / f"change-{n}.txt").write_text(f"change {n}\n")
    t = rt.now()
    rcs.append(rt.run_child([*GIT, "-C", str(repo), "add", "-A"]))
    rcs.append(rt.run_child([*GIT, "-C", str(repo), "commit", "-q", "-m", f"change {n}"]))
    rt.report(t, all(rc == 0 for rc in rcs), f"git add + commit (pre-commit hook) in {repo}: {rcs}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
