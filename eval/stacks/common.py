"""What every Python agent in the eval corpus shares: its tools, its in-process site, its work loop.

The tools are the ones coding agents really ship with, implemented the plain
way such agents do: ``urllib`` fetches, file reads and writes confined to a
work directory, subprocesses started without a shell (``git``, ``ls``,
``wc`` ...), and a code tool that ``exec``s Python in the agent's own
process (like LangChain's PythonREPL or smolagents' local executor).  Each
framework wraps these functions in its own tool type; none of this is H7
code.  Stdlib only, so it imports in every stack's environment.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WORK = Path(".")
MAX_OUT = 4000


def _inside(path: str) -> Path:
    p = (WORK / path).resolve()
    if not str(p).startswith(str(WORK.resolve())):
        raise ValueError(f"{path}: outside the work directory")
    return p


def fetch_url(url: str) -> str:
    """Fetch a web page or API resource and return its text (truncated)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read(1 << 20).decode("utf-8", "replace")[:MAX_OUT]
    except OSError as e:
        return f"error: {e}"


def read_file(path: str) -> str:
    """Read a text file from the work directory."""
    try:
        return _inside(path).read_text(errors="replace")[:MAX_OUT]
    except (OSError, ValueError) as e:
        return f"error: {e}"


def write_file(path: str, content: str) -> str:
    """Write a text file in the work directory."""
    try:
        p = _inside(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
        return f"wrote {len(content)} bytes to {path}"
    except (OSError, ValueError) as e:
        return f"error: {e}"


def list_dir(path: str = ".") -> str:
    """List a directory of the work directory."""
    try:
        return "\n".join(sorted(x.name + ("/" if x.is_dir() else "") for x in _inside(path).iterdir()))[
            :MAX_OUT
        ]
    except (OSError, ValueError) as e:
        return f"error: {e}"


def run_command(argv: list[str]) -> str:
    """Run a program (no shell) in the work directory and return its output."""
    try:
        r = subprocess.run(
            [str(a) for a in argv], cwd=WORK, capture_output=True, text=True, timeout=60, check=False
        )
        return (r.stdout + r.stderr)[:MAX_OUT] + f"\n[exit {r.returncode}]"
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"error: {e}"


_PY_GLOBALS: dict[str, Any] = {"__name__": "agent_repl"}


def run_python(code: str) -> str:
    """Execute Python code in the agent's interpreter and return what it printed."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            exec(compile(code, "<agent-code>", "exec"), _PY_GLOBALS)
    except Exception as e:  # the model sees its own errors, as in a REPL
        buf.write(f"{type(e).__name__}: {e}")
    return buf.getvalue()[:MAX_OUT]


TOOLS: dict[str, Callable[..., str]] = {
    "fetch_url": fetch_url,
    "read_file": read_file,
    "write_file": write_file,
    "list_dir": list_dir,
    "run_command": run_command,
    "run_python": run_python,
}


# ----------------------------------------------------------------- in-process site
class _DocsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        rng = random.Random(self.path)
        body = json.dumps(
            {
                "source": "in-process docs",
                "path": self.path,
                "sections": [
                    f"section {i}: " + "lorem " * rng.randrange(5, 80) for i in range(rng.randrange(1, 12))
                ],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start_inproc_site(api: str) -> str:
    """A docs server inside the agent process (as agents with a local docs/RAG server have)."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _DocsHandler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    req = urllib.request.Request(
        f"{api}/register-site", json.dumps({"url": url}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()
    return url


# ----------------------------------------------------------------- the work loop
def args(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--api", required=True, help="base URL of the model API, e.g. http://127.0.0.1:PORT/v1")
    ap.add_argument("--workdir", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=7200.0, help="stop after this long (s)")
    ap.add_argument("--ready-file", type=Path, help="touched once the agent is set up")
    return ap.parse_args()


def setup(a: argparse.Namespace) -> str:
    """Enter the work dir, start the in-process site; returns the model API root (no /v1)."""
    global WORK
    WORK = a.workdir.resolve()
    os.chdir(WORK)
    root = a.api.rstrip("/").removesuffix("/v1")
    start_inproc_site(root)
    return root


def ready(a: argparse.Namespace) -> None:
    if a.ready_file:
        a.ready_file.write_text(str(os.getpid()))


#: the operator's requests, drawn at random (seeded) by every Python stack's loop: one
#: workload for all (eval/stacks/node/agent.mjs lists the same six)
PROMPTS = (
    "Update the notes from the docs site",
    "Summarise the API changes",
    "Check the repo state",
    "Draft a short report",
    "Look up the status page and record it",
    "Tidy the todo list",
)


def think_time(rng: random.Random, end: float) -> float:
    """Seconds between tasks: mostly short, sometimes a long pause (a person reading), never past ``end``.

    Shared by the sync loop below and the async MCP agent, so every stack idles alike.
    """
    gap = rng.expovariate(1 / 2.5) if rng.random() < 0.85 else rng.uniform(8, 20)
    return min(gap, 25.0, max(0.0, end - time.monotonic()))


def loop(a: argparse.Namespace, run_task: Callable[[int, str], Any]) -> None:
    """Tasks one after another with human-like gaps, until --duration; bounded in time."""
    rng = random.Random(a.seed)
    end = time.monotonic() + a.duration
    task = 0
    while time.monotonic() < end:
        task += 1
        prompt = f"[task {task}] {rng.choice(PROMPTS)}."
        try:
            run_task(task, prompt)
        except Exception as e:  # a framework error ends a task, not the agent
            cause = e.__cause__ or e.__context__
            print(
                f"{time.strftime('%H:%M:%S')} task {task}: {type(e).__name__}: {e} (cause: {cause!r})",
                flush=True,
            )
        time.sleep(think_time(rng, end))
