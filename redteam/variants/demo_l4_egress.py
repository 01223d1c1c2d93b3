"""The demo's L4 attack: connect to an unknown loopback host and burst UDP at it (l4_egress).

Exfiltration to a destination outside the allowlist.
"""

from __future__ import annotations

from typing import Any

from redteam import rt

GAP = 0
MODE = "inject"
TARGET = "host"
HELD_OUT = False
EXPECT = ("L4",)


def run(args: dict[str, Any]) -> None:
    from h7.demo.attacks import l4_egress

    ip, port = rt.loopback(args["dest"]["ip"]), int(args["dest"]["port"])
    t = rt.now()
    l4_egress.run({"host": ip, "port": port, "count": 3000, "seconds": 2.0})
    rt.report(t, True, f"connect + UDP burst to {ip}:{port}")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
