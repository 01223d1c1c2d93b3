"""Which programs run code they are handed, and where on their command line that code is named.

Two channels ask it.  L2 judges every start of an interpreter by the agent
(``LLM_AGENT_HIJACK``); L3 follows the agent's own code into a child
interpreter: a script the agent wrote and then ran (``python3 tmp_code_1f.py``,
how AutoGen's code executor runs each snippet) is the agent acting, not a tool
it started, so what that run hands out and reads back is the agent's loop
(docs/detection.md, L3, "The agent's own code in a child interpreter").  One table, so the two never
disagree about what an interpreter is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

INTERPRETERS = frozenset(
    """sh bash dash zsh ksh ksh93 mksh pdksh oksh loksh fish csh tcsh ash hush yash rbash rc es elvish
    nu xonsh python python2 python3 pypy pypy3 ipython ipython3 perl ruby irb jruby node nodejs deno bun
    php php-cgi lua luajit pwsh powershell tclsh wish expect guile rscript jshell osascript""".split()  # noqa: SIM905
)
#: interpreters that act only by running programs (plus their builtins): an installed script in one
#: of these is judged by its own name (L2's ``ExecChannel._installed_script``); python, node, perl...
#: run code in-process (imports from the working directory, ``pdb -c``, ``timeit -s``) and are not
SHELLS = frozenset(
    ["sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "oksh", "loksh", "ash", "yash", "rbash"]
)
#: launchers that only adjust how the command they are given runs (environment, priority, CPU,
#: session, buffering, a time limit) and run it as themselves or in one plain child: the program
#: they start is the one their caller asked for.  L3 sees through them to the interpreter they run
#: (``env python3 job.py``, a ``#!/usr/bin/env python3`` script); L2's launchers (programs that run
#: any command line they are given: xargs, sudo, strace...) are these and more.
TRANSPARENT_LAUNCHERS = frozenset(
    """env nice nohup timeout setsid stdbuf chrt ionice taskset setarch linux32 linux64 numactl prlimit
    time""".split()  # noqa: SIM905
)
# Families that are installed under versioned names (python3.11, perl5.36, node18...).
_VERSIONED = re.compile(
    r"^(python|pypy|perl|ruby|node|nodejs|php|lua|luajit|tclsh|wish|pwsh|guile|irb|ipython)"
    r"[0-9]+(?:\.[0-9]+)*[a-z]?$"
)


def normalise_name(name: str) -> str:
    """``Python3.11`` -> ``python``: the family a versioned name belongs to."""
    n = name.lower()
    m = _VERSIONED.match(n)
    return m.group(1) if m else n


class CodeRun(NamedTuple):
    """What code an interpreter's command line hands it: ``how`` is ``file`` (``what``: the script
    operand as spelled), ``inline`` (``what``: the option that carried it, ``-c``, ``-e``...) or
    ``stdin`` (``what``: ``-``)."""

    how: str
    what: str


# Per family: single-letter options that hand it code inline (``python -c``, ``node -e``, ``sh -c``),
# that run installed code or nothing at all (``python -m``, ``-V``, ``node -v``: no code of the
# caller's), that take a value (the next word when not attached: ``python -W ignore``, ``sh -o
# errexit``); and long options likewise (a value when not written ``--opt=value``).
_INLINE_SHORT = {"python": "c", "pypy": "c", "node": "ep", "perl": "eE", "ruby": "e", "php": "r", "lua": "e"}
_NO_CODE_SHORT = {"python": "mVh?", "pypy": "mVh?", "node": "vh", "perl": "vV", "ruby": "vh", "php": "vhi"}
_VALUE_SHORT = {
    "python": "WXQ",
    "pypy": "WXQ",
    "node": "rC",
    "perl": "IMmx",
    "ruby": "IrCEFKTUWx",
    "php": "cdz",
}
_INLINE_LONG = frozenset(["--eval", "--print", "--command"])
_NO_CODE_LONG = frozenset(["--version", "--help", "--test", "--check"])
_VALUE_LONG = frozenset(
    [
        "--check-hash-based-pycs",
        "--require",
        "--import",
        "--loader",
        "--experimental-loader",
        "--conditions",
        "--input-type",
        "--title",
        "--env-file",
        "--rcfile",
        "--init-file",
    ]
)
_SHELL_INLINE = "c"
_SHELL_VALUE = "oO"


def code_operand(name: str, args: Sequence[str]) -> CodeRun | None:
    """The code an interpreter named ``name`` was handed, from its argv (``args[0]`` is its name).

    None when it was handed none of the caller's: not an interpreter, a module
    (``python -m pip``: installed code), a version or help query, ``node
    --test``.  The parse is the interpreter's own option grammar as far as it
    decides where the operand is (combined flags, attached and detached values,
    ``--``); an option it does not know is taken to take no value, so the worst a
    misparse does is name an option's value as the script -- which then has to be
    a file the agent wrote for anything to follow from it.  No operand at all is
    ``stdin``: the interpreter reads its program from its input.
    """
    fam = normalise_name(name)
    if fam not in INTERPRETERS:
        return None
    shell = fam in SHELLS
    inline = _SHELL_INLINE if shell else _INLINE_SHORT.get(fam, "e")
    no_code = "" if shell else _NO_CODE_SHORT.get(fam, "")
    takes_value = _SHELL_VALUE if shell else _VALUE_SHORT.get(fam, "")
    i = 1
    while i < len(args):
        a = args[i]
        if a == "--":
            return CodeRun("file", args[i + 1]) if i + 1 < len(args) else CodeRun("stdin", "-")
        if a == "-" or not a:
            return CodeRun("stdin", "-")
        if a.startswith("--"):
            opt = a.split("=", 1)[0]
            if opt in _INLINE_LONG:
                return CodeRun("inline", opt)
            if opt in _NO_CODE_LONG:
                return None
            if opt in _VALUE_LONG and "=" not in a:
                i += 1
            i += 1
            continue
        if len(a) > 1 and (a[0] == "-" or (shell and a[0] == "+")):  # sh +x, sh +o errexit
            for j, ch in enumerate(a[1:], start=1):
                if ch in inline:
                    return CodeRun("inline", f"-{ch}")
                if ch in no_code:
                    return None
                if shell and ch == "s":
                    return CodeRun("stdin", "-s")
                if ch in takes_value:
                    if j == len(a) - 1:
                        i += 1  # the value is the next word
                    break
            i += 1
            continue
        return CodeRun("file", a)
    return CodeRun("stdin", "-")
