"""Round 7 benign act: an editor's language server -- `ruff server` spoken to over stdio (LSP JSON-RPC).

What coding agents and their editor helpers do to get diagnostics: start the
linter's language server, ``initialize``, open a document with an unused
import, wait for the ``publishDiagnostics`` it pushes, ``shutdown``, ``exit``.
A long-lived native child talking JSON-RPC over pipes.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from redteam import rt

GAP = -1
MODE = "inject"
TARGET = "host"
HELD_OUT = True
ROUND = 7
BENIGN = True
EXPECT = ()


def _send(p: subprocess.Popen[bytes], msg: dict[str, Any]) -> None:
    body = json.dumps(msg).encode()
    assert p.stdin is not None
    p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    p.stdin.flush()


def _read(p: subprocess.Popen[bytes], want: Any, seconds: float = 20.0) -> dict[str, Any] | None:
    """The first message for which ``want(msg)`` holds, read (bounded) from the server's stdout."""
    assert p.stdout is not None
    fd = p.stdout.fileno()
    buf = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        while b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            n = int(head.split(b"Content-Length:")[1].split(b"\r\n")[0])
            if len(rest) < n:
                break
            msg, buf = json.loads(rest[:n]), rest[n:]
            if want(msg):
                return dict(msg)
        if select.select([fd], [], [], 0.5)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            buf += chunk
    return None


def run(args: dict[str, Any]) -> None:
    d = rt.fresh_dir(args["scratch"])
    src = d / "app.py"
    src.write_text("import os\nimport sys\n\n\ndef main() -> None:\n    print(sys.argv)\n")
    ruff = Path(sys.executable).parent / "ruff"
    exe = str(ruff) if ruff.exists() else (shutil.which("ruff") or "ruff")
    t = rt.now()
    p = subprocess.Popen(
        [exe, "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=d
    )
    diags: list[Any] = []
    try:
        params = {"processId": os.getpid(), "rootUri": d.as_uri(), "capabilities": {}}
        _send(p, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params})
        init = _read(p, lambda m: m.get("id") == 1)
        _send(p, {"jsonrpc": "2.0", "method": "initialized", "params": {}})
        _send(p, {"jsonrpc": "2.0", "method": "textDocument/didOpen",
                  "params": {"textDocument": {"uri": src.as_uri(), "languageId": "python", "version": 1,
                                              "text": src.read_text()}}})  # fmt: skip
        pub = _read(p, lambda m: m.get("method") == "textDocument/publishDiagnostics")
        diags = (pub or {}).get("params", {}).get("diagnostics", [])
        _send(p, {"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
        _read(p, lambda m: m.get("id") == 2, 10)
        _send(p, {"jsonrpc": "2.0", "method": "exit"})
        rc = p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)
    codes = sorted({str(x.get("code")) for x in diags})
    rt.report(
        t,
        init is not None and bool(diags),
        f"ruff server: initialize ok {init is not None}, diagnostics {codes}, rc {rc}",
    )


if __name__ in ("__main__", "h7_injected"):
    rt.main(run, globals())
