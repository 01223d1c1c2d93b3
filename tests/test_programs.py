"""Where an interpreter's command line names the code it runs (h7/detect/programs.py).

L3 takes a run of a file the agent wrote for the agent's own code; the file is
the program itself or the script operand this parse finds.  A wrong operand is
only harmful when it names a file the agent wrote, but a missed one (inline code
read as a file, a file read as an option's value) changes what L3 follows.
"""

from __future__ import annotations

import pytest

from h7.detect.programs import INTERPRETERS, CodeRun, code_operand, normalise_name


@pytest.mark.parametrize(
    ("name", "argv", "run"),
    [
        ("python3.11", ["python3", "tmp_code_1f.py"], CodeRun("file", "tmp_code_1f.py")),
        ("python3.11", ["python3", "-u", "-X", "dev", "job.py", "a"], CodeRun("file", "job.py")),
        ("python3", ["python3", "-Wignore", "-B", "job.py"], CodeRun("file", "job.py")),
        ("python3", ["python3", "-W", "ignore", "job.py"], CodeRun("file", "job.py")),
        ("python3", ["python3", "-m", "pytest", "t.py"], None),  # installed code
        ("python3", ["python3", "-uc", "print(1)"], CodeRun("inline", "-c")),
        ("python3", ["python3", "-"], CodeRun("stdin", "-")),
        ("python3", ["python3", "--", "-odd-name.py"], CodeRun("file", "-odd-name.py")),
        ("python3", ["python3", "--check-hash-based-pycs", "always", "j.py"], CodeRun("file", "j.py")),
        ("python3", ["python3", "--version"], None),
        ("node", ["node", "--require", "./hook.js", "s.js"], CodeRun("file", "s.js")),
        ("node", ["node", "--require=./hook.js", "s.js"], CodeRun("file", "s.js")),
        ("node", ["node", "-e", "1"], CodeRun("inline", "-e")),
        ("node", ["node", "--eval=1"], CodeRun("inline", "--eval")),
        ("node", ["node", "--test"], None),
        ("dash", ["sh", "-e", "job.sh"], CodeRun("file", "job.sh")),
        ("bash", ["bash", "+o", "errexit", "job.sh"], CodeRun("file", "job.sh")),
        ("bash", ["bash", "-o", "pipefail", "job.sh"], CodeRun("file", "job.sh")),
        ("bash", ["bash", "--rcfile", "rc", "job.sh"], CodeRun("file", "job.sh")),
        ("dash", ["sh", "-c", "job.sh"], CodeRun("inline", "-c")),
        ("dash", ["sh", "-s"], CodeRun("stdin", "-s")),
        ("dash", ["sh"], CodeRun("stdin", "-")),
        ("perl", ["perl", "-Ilib", "x.pl"], CodeRun("file", "x.pl")),
        ("perl", ["perl", "-I", "lib", "x.pl"], CodeRun("file", "x.pl")),
        ("perl", ["perl", "-e", "print 1"], CodeRun("inline", "-e")),
        ("ruby", ["ruby", "-r", "json", "x.rb"], CodeRun("file", "x.rb")),
        ("ls", ["ls", "x.py"], None),  # not an interpreter
    ],
)
def test_code_operand(name: str, argv: list[str], run: CodeRun | None) -> None:
    assert code_operand(name, argv) == run


def test_versioned_names_are_their_family() -> None:
    assert normalise_name("Python3.11") == "python" and normalise_name("node18") == "node"
    assert all(normalise_name(n) in INTERPRETERS for n in ("python3.11", "perl5.36", "pypy3", "nodejs"))
