"""Where an interpreter's command line names the code it runs (h7/detect/programs.py).

L3 takes a run of a file the agent wrote for the agent's own code; the file is
the program itself or the script operand this parse finds.  A wrong operand is
only harmful when it names a file the agent wrote, but a missed one (inline code
read as a file, a file read as an option's value) changes what L3 follows.
"""

from __future__ import annotations

import pytest

from h7.detect.programs import INTERPRETERS, normalise_name, script_operand


@pytest.mark.parametrize(
    ("name", "argv", "operand"),
    [
        ("python3.11", ["python3", "tmp_code_1f.py"], "tmp_code_1f.py"),
        ("python3.11", ["python3", "-u", "-X", "dev", "job.py", "a"], "job.py"),
        ("python3", ["python3", "-Wignore", "-B", "job.py"], "job.py"),
        ("python3", ["python3", "-W", "ignore", "job.py"], "job.py"),
        ("python3", ["python3", "-m", "pytest", "t.py"], None),
        ("python3", ["python3", "-uc", "print(1)"], None),
        ("python3", ["python3", "-"], None),
        ("python3", ["python3", "--", "-odd-name.py"], "-odd-name.py"),
        ("python3", ["python3", "--check-hash-based-pycs", "always", "j.py"], "j.py"),
        ("node", ["node", "--require", "./hook.js", "s.js"], "s.js"),
        ("node", ["node", "--require=./hook.js", "s.js"], "s.js"),
        ("node", ["node", "-e", "1"], None),
        ("node", ["node", "--test"], None),
        ("dash", ["sh", "-e", "job.sh"], "job.sh"),
        ("bash", ["bash", "+o", "errexit", "job.sh"], "job.sh"),
        ("bash", ["bash", "-o", "pipefail", "job.sh"], "job.sh"),
        ("bash", ["bash", "--rcfile", "rc", "job.sh"], "job.sh"),
        ("dash", ["sh", "-c", "job.sh"], None),
        ("dash", ["sh", "-s"], None),
        ("dash", ["sh"], None),
        ("perl", ["perl", "-Ilib", "x.pl"], "x.pl"),
        ("perl", ["perl", "-I", "lib", "x.pl"], "x.pl"),
        ("perl", ["perl", "-e", "print 1"], None),
        ("ruby", ["ruby", "-r", "json", "x.rb"], "x.rb"),
        ("ls", ["ls", "x.py"], None),  # not an interpreter: no operand
    ],
)
def test_script_operand(name: str, argv: list[str], operand: str | None) -> None:
    assert script_operand(name, argv) == operand


def test_versioned_names_are_their_family() -> None:
    assert normalise_name("Python3.11") == "python" and normalise_name("node18") == "node"
    assert all(normalise_name(n) in INTERPRETERS for n in ("python3.11", "perl5.36", "pypy3", "nodejs"))
