"""Round 6 benign act: start a dev server (python3 -m http.server) in the workspace, curl it, stop it.

A web-dev agent's everyday check ("serve the build, fetch the page"): a
listener owned by the agent's own child, reached by curl and by the agent
itself on 127.0.0.1; nothing leaves the agent's tree.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 6
BENIGN = True
EXPECT = ()


def run(args: dict[str, Any]) -> None:
    site = rt.fresh_dir(args["scratch"])
    (site / "index.html").write_text("<html><body><h1>build 42</h1></body></html>\n")
    t = rt.now()
    srv = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(site), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert srv.stdout is not None
        line = srv.stdout.readline().decode(errors="replace")  # "Serving HTTP on 127.0.0.1 port N ..."
        m = re.search(r"port (\d+)", line)
        port = int(m.group(1)) if m else 0
        url = f"http://127.0.0.1:{port}/index.html"
        rc = rt.run_child(["curl", "-sSf", "-o", str(site / "fetched.html"), url]) if port else -2
        time.sleep(0.2)
        with urllib.request.urlopen(url, timeout=5) as r:
            body = r.read()
    finally:
        srv.terminate()
        srv.wait(10)
    ok = rc == 0 and b"build 42" in body and (site / "fetched.html").read_bytes() == body
    rt.report(t, ok, f"http.server on 127.0.0.1:{port}, curl exit {rc}, urllib {len(body)} B")


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
