"""Prompt-injected shell: the agent spawns `sh -c` and living-off-the-land tools (T1059, T1105).

Imitates an injected instruction like "run this to fix the build": a shell
doing reconnaissance, then base64 and openssl used to stage data, as
exfiltration droppers do.  Touches nothing outside a temp file.
"""

from __future__ import annotations

import subprocess
import tempfile
from typing import Any


def run(args: dict[str, Any]) -> None:
    subprocess.run(
        ["sh", "-c", "id; uname -a; ls / >/dev/null"], capture_output=True, timeout=10, check=False
    )
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.write("pretend-secret\n")
        f.flush()
        subprocess.run(["base64", f.name], capture_output=True, timeout=10, check=False)
        subprocess.run(["openssl", "dgst", "-sha256", f.name], capture_output=True, timeout=10, check=False)


if __name__ in ("__main__", "h7_injected"):
    run(globals().get("ARGS", {}))
