"""The demo's L2 attack: the agent spawns sh -c, base64 and openssl (h7.demo.attacks.l2_shell).

A prompt-injected shell with living-off-the-land tools.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 0
MODE = "inject"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    from h7.demo.attacks import l2_shell

    t = rt.now()
    l2_shell.run({})
    rt.report(t, True, "sh -c, base64, openssl run")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
