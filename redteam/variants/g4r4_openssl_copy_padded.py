"""Round 4: a padded copy of openssl renamed ssl-helper base64-encodes a secret (a living-off-the-land tool).

Identity by copy for a LOTL tool, not a shell: the name says nothing.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

from redteam import rt

GAP = 4
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 4
EXPECT = ("L2",)


def run(args: dict[str, Any]) -> None:
    d = Path(args["scratch"])
    exe = rt.copy_padded("/usr/bin/openssl", d / "ssl-helper", pad=b"\n# helper 0.3\n")
    secret = d / "creds.txt"
    secret.write_bytes(b"aws_secret_access_key = h7redteamround4openssl\n")
    t = rt.now()
    r = subprocess.run(
        [str(exe), "enc", "-base64", "-in", str(secret)], capture_output=True, timeout=20, check=False
    )
    ok = r.returncode == 0 and base64.b64decode(r.stdout) == secret.read_bytes()
    rt.report(t, ok, f"{exe} enc -base64: exit {r.returncode}, {len(r.stdout)} bytes out")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
