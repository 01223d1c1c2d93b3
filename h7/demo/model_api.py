"""A stand-in for an LLM "model API" on 127.0.0.1, serving tool calls to the demo agent.

Normally it answers each turn with a benign tool call (read a document,
write a note, tokenise, list the workspace).  ``POST /inject`` queues a
tool call that is served on the next turn instead: that is how the demo
simulates a prompt injection (content the model read told it to run code).
Loopback only; it refuses to bind anything else.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BENIGN_TOOLS = ("read_file", "write_file", "tokenize", "list_dir", "read_file", "tokenize")


class ModelAPI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0, seed: int = 7) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: list[dict[str, Any]] = []
        self.turns = 0

    def next_call(self, turn: int) -> dict[str, Any]:
        with self.lock:
            self.turns += 1
            if self.injected:
                return self.injected.pop(0)
            tool = self.rng.choice(BENIGN_TOOLS)
            return {"tool": tool, "args": {"k": self.rng.randrange(4), "size": self.rng.randrange(2, 6)}}


class _Handler(BaseHTTPRequestHandler):
    server: ModelAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _reply(self, code: int, obj: dict[str, Any]) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, {"ok": True, "turns": self.server.turns})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length", "0") or 0)
        req = json.loads(self.rfile.read(min(n, 1 << 20)) or b"{}")
        if self.path == "/v1/chat":
            time.sleep(0.01)  # "generation"
            self._reply(200, {"choices": [{"tool_call": self.server.next_call(int(req.get("turn", 0)))}]})
        elif self.path == "/inject":
            with self.server.lock:
                self.server.injected.append(req)
            self._reply(200, {"queued": len(self.server.injected)})
        else:
            self._reply(404, {"error": "not found"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", type=Path)
    ap.add_argument("--duration", type=float, default=600.0, help="serve at most this long (s)")
    args = ap.parse_args()
    srv = ModelAPI(args.port)
    if args.port_file:
        args.port_file.write_text(str(srv.server_address[1]))
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    time.sleep(args.duration)
    srv.shutdown()


if __name__ == "__main__":
    main()
