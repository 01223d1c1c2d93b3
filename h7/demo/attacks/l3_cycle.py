"""Self-modifying feedback loop: write a script, run it, read back what it wrote (T1059.006 staging).

The agent writes a helper script, a child process executes it, the script
writes its output file, and the agent reads that file back: a directed
cycle agent -> script -> helper -> output -> agent through two program
images that the agent's baseline causal graph never had.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def run(args: dict[str, Any]) -> None:
    d = Path(tempfile.mkdtemp(prefix="h7-stage-"))
    script = d / "stage2.py"
    out = d / "loot.dat"
    script.write_text("import sys, pathlib\npathlib.Path(sys.argv[1]).write_text('collected ' * 64)\n")
    os.chmod(script, 0o700)
    subprocess.run([sys.executable, str(script), str(out)], timeout=20, check=False)
    data = out.read_text() if out.exists() else ""
    # feed the output back into the loop once more, as a staged payload would
    subprocess.run([sys.executable, str(script), str(out)], input=data, text=True, timeout=20, check=False)
    out.read_text()
    for p in (script, out):
        p.unlink(missing_ok=True)
    d.rmdir()


if __name__ in ("__main__", "h7_injected"):
    run(globals().get("ARGS", {}))
