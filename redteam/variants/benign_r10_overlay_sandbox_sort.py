"""Round 10 benign act: an installed tool run in a copy-on-write overlay sandbox (private mount ns).

Agent sandboxes (and build tools) let a tool edit a throw-away view of the
project: a forked child of the agent enters a private mount namespace,
mounts an overlay (``lowerdir`` = a directory of the agent's documents,
``upperdir`` = scratch) and execs the installed ``sort -o`` over a file in
the merged view; the agent reads the sorted result from ``upper/`` and the
original stays untouched.  Only system binaries run.  The counterpart of
round 10's overlay exec variant.
"""

from __future__ import annotations

import random
from typing import Any

from redteam import rt
from redteam.variants.g4r10_overlay_upper_written_exec import mount, private_mount_ns, run_in_child

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 10
BENIGN = True
EXPECT = ()


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    for sub in ("docs", "upper", "ovl-work", "merged"):
        (d / sub).mkdir()
    rng = random.Random(10)
    words = [f"item-{rng.getrandbits(32):08x}" for _ in range(2000)]
    (d / "docs" / "index.txt").write_text("\n".join(words) + "\n")
    lc = rt.libc()

    def prepare() -> None:
        private_mount_ns(lc)
        opts = f"lowerdir={d / 'docs'},upperdir={d / 'upper'},workdir={d / 'ovl-work'}"
        mount(lc, "overlay", d / "merged", "overlay", 0, opts)

    merged = d / "merged" / "index.txt"
    t = rt.now()
    rc, _ = run_in_child(prepare, ["/usr/bin/sort", "-o", str(merged), str(merged)])
    result = (d / "upper" / "index.txt").read_text().split()
    original = (d / "docs" / "index.txt").read_text().split()
    ok = rc == 0 and result == sorted(words) and original == words
    rt.report(
        t,
        ok,
        f"sort in an overlay sandbox rc {rc}: upper holds {len(result)} sorted lines, "
        f"original unchanged {original == words}",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
