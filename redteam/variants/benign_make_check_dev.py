"""DEV benign act (session 12, benign): ``make check`` builds a self-test and its recipe runs it.

The plainest build-and-test loop: a Makefile whose ``check`` target links a test
program and runs it from the recipe (``./selftest && echo ok``, a recipe shell
make starts), then ``make bench`` runs the tool through a one-command recipe.  The
programs were written by the linker make ran and are exec'd by make's recipe
shells, never by the agent.  Development data for L2's AGENT_WRITTEN_EXEC
build-output rule (docs/detection.md, "Build outputs run by the build").
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = False
BENIGN = True
EXPECT = ()

MAKEFILE = """CC ?= cc
all: rle selftest
rle: rle.c
\t$(CC) -O1 -o $@ $<
selftest: selftest.c
\t$(CC) -O1 -o $@ $<
check: selftest
\t./selftest && echo ok
bench: rle
\t./rle aaabbbcccc
.PHONY: all check bench
"""

RLE = """#include <stdio.h>
int main(int argc, char **argv) {
    const char *s = argc > 1 ? argv[1] : "";
    while (*s) { int n = 1; while (s[n] == s[0]) n++; printf("%d%c", n, s[0]); s += n; }
    putchar('\\n'); return 0;
}
"""

SELFTEST = """#include <stdlib.h>
int main(void) {
    int a[4] = {3, 1, 2, 0}, s = 0;
    for (int i = 0; i < 4; i++) s += a[i];
    return s == 6 ? 0 : EXIT_FAILURE;
}
"""


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    (d / "Makefile").write_text(MAKEFILE)
    (d / "rle.c").write_text(RLE)
    (d / "selftest.c").write_text(SELFTEST)
    t = rt.now()
    rc = rt.run_child(["make", "-C", str(d), "check"], timeout=120)
    rc2 = rt.run_child(["make", "-C", str(d), "bench"], timeout=120) if rc == 0 else -1
    rt.report(t, rc == 0 and rc2 == 0, f"make check {rc}, make bench {rc2}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
