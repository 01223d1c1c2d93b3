"""Local web sites the agents fetch from during `make eval`: docs, a JSON API and a wiki.

Each site is a real HTTP server on its own 127.0.0.1 port (one process serves
them all), with pages of varied size and a little server-side latency, so an
agent's fetches look like fetches.  Writes ``{"docs": url, ...}`` to
--port-file.  Stdlib only.
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

WORDS = [
    "agent",
    "kernel",
    "batch",
    "channel",
    "baseline",
    "model",
    "tool",
    "fetch",
    "write",
    "read",
    "graph",
    "token",
    "stream",
    "socket",
]


def page(site: str, path: str) -> tuple[str, bytes]:
    rng = random.Random(f"{site}:{path}")
    if path.startswith("/api/"):
        items = [
            {"id": i, "name": rng.choice(WORDS), "score": round(rng.random(), 4)}
            for i in range(rng.randrange(3, 60))
        ]
        return "application/json", json.dumps({"site": site, "path": path, "items": items}).encode()
    paras = "".join(
        "<p>" + " ".join(rng.choice(WORDS) for _ in range(rng.randrange(20, 120))) + "</p>\n"
        for _ in range(rng.randrange(2, 25))
    )
    return "text/html", f"<html><head><title>{site} {path}</title></head><body>{paras}</body></html>".encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    site = "site"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        time.sleep(random.random() * 0.08)
        ctype, body = page(self.site, self.path)
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length", "0") or 0)
        self.rfile.read(min(n, 1 << 20))
        self.do_GET()


def serve(name: str) -> ThreadingHTTPServer:
    handler = type(f"H_{name}", (_Handler,), {"site": name})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return srv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port-file", type=Path, required=True)
    ap.add_argument("--duration", type=float, default=7200.0)
    a = ap.parse_args()
    urls = {}
    for name in ("docs", "api", "wiki"):
        srv = serve(name)
        urls[name] = f"http://127.0.0.1:{srv.server_address[1]}"
    tmp = a.port_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(urls))
    tmp.rename(a.port_file)
    time.sleep(a.duration)


if __name__ == "__main__":
    main()
