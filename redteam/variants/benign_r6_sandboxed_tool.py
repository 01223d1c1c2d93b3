"""Round 6 benign act: run tools in a throw-away sandbox (new user, PID, mount and network namespaces).

What agent CLIs do before running generated commands: `unshare --user
--map-root-user --net --pid --fork --mount-proc -- CMD`.  A new PID
namespace and a private /proc look like a container set-up; the commands
inside (sort, wc, sha256sum) only read the workspace.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 6
BENIGN = True
EXPECT = ()
BOX = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--mount-proc", "--"]


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    (d / "words.txt").write_text("".join(f"w{(i * 31) % 97}\n" for i in range(500)))
    t = rt.now()
    rcs = [
        rt.run_child([*BOX, "sort", "-u", "-o", str(d / "uniq.txt"), str(d / "words.txt")]),
        rt.run_child([*BOX, "wc", "-l", str(d / "words.txt")]),
        rt.run_child([*BOX, "sha256sum", str(d / "words.txt")]),
    ]
    rt.report(t, rcs == [0, 0, 0], f"unshare --user --net --pid --mount-proc: sort/wc/sha256sum {rcs}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
