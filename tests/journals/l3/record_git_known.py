"""Re-record L3's known-tool-in-a-new-place journal (root, real BPF): `python record_git_known.py` here.

One journal, ``git_known_new_repo_dev.h7j.gz``: the demo agent recorded with
`h7 record` for RECORD_S seconds.  During its 30-s baseline the agent runs
``git`` twice in one repository (init, commits, log), so ``git`` is a program
the baseline knows.  After it, ordinary work with that same tool in places
the baseline never saw: a new repository (init, commit), a local bare
"origin" cloned, committed to and pushed to, and one more commit in the
known repository.  All benign.

Written in session 7 to reproduce ON DEV DATA the cause found for red-team
round 4's held-out benign ``git_clone_push_local`` drift (a known image's
first touches of a new repository's paths all count): development data, not
held out; nothing here was tuned on the held-out act.  Recorded (11:50 UTC,
session 7) with the sensor of branch ``l3-chdir``: the journal carries the
kernel's chdir records (``git -C`` changes directory), which main's sensor
ships once that branch lands.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent))

from record_novelty import GIT, RUN  # noqa: E402

RECORD_S = 85.0
BASELINE_S = 30
OUT_NAME = "git_known_new_repo_dev.h7j"

NEW_REPO = GIT.replace("repo = W / 'proj'", "repo = W / 'proj2'")
CLONE_PUSH = (
    RUN
    + """
G = ['git', '-c', 'user.name=agent', '-c', 'user.email=agent@localhost', '-c', 'init.defaultBranch=main']
origin = W / 'origin.git'
clone = W / 'clone'
run(*G, 'init', '-q', '--bare', str(origin))
run(*G, 'clone', '-q', str(origin), str(clone))
(clone / 'README.md').write_text('hello\\n')
run(*G, '-C', str(clone), 'add', '-A')
run(*G, '-C', str(clone), 'commit', '-q', '-m', 'first')
run(*G, '-C', str(clone), 'push', '-q', 'origin', 'HEAD:main')
run(*G, '-C', str(clone), 'log', '--oneline')
"""
)
# (seconds after the recording starts, name, code)
ACTS: list[tuple[float, str, str | None]] = [
    (6.0, "warmup_git", GIT),
    (16.0, "warmup_git_again", GIT),
    (40.0, "git_new_repo", NEW_REPO),
    (52.0, "git_clone_push", CLONE_PUSH),
    (68.0, "git_known_repo", GIT),
]
BENIGN = ("git_new_repo", "git_clone_push", "git_known_repo")


def main() -> None:
    from record import record_journal

    record_journal(HERE / OUT_NAME, RECORD_S, ACTS)


if __name__ == "__main__":
    main()
