"""Round 4 benign act: git between local repositories: init a bare origin, clone it, commit, push, log.

The push to a local path runs git-receive-pack (git starts it through
sh -c); no network, no hooks.
"""

from __future__ import annotations

import os
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
    d = rt.fresh_dir(args["scratch"])
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "LANG")},
        "HOME": str(d),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "agent",
        "GIT_AUTHOR_EMAIL": "agent@localhost",
        "GIT_COMMITTER_NAME": "agent",
        "GIT_COMMITTER_EMAIL": "agent@localhost",
    }
    origin, clone = d / "origin.git", d / "clone"
    t = rt.now()
    rcs = [rt.run_child(["git", "init", "-q", "--bare", "-b", "main", str(origin)], env=env)]
    rcs.append(rt.run_child(["git", "clone", "-q", str(origin), str(clone)], env=env))
    (clone / "README.md").write_text("# notes\n\nagent work in progress\n")
    rcs.append(rt.run_child(["git", "-C", str(clone), "add", "README.md"], env=env))
    rcs.append(rt.run_child(["git", "-C", str(clone), "commit", "-q", "-m", "docs: notes"], env=env))
    rcs.append(rt.run_child(["git", "-C", str(clone), "push", "-q", "origin", "HEAD:main"], env=env))
    rcs.append(rt.run_child(["git", "--git-dir", str(origin), "log", "--oneline", "main"], env=env))
    rt.report(t, rcs == [0] * 6, f"git init --bare, clone, add, commit, push, log: {rcs}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
