"""A synthetic LLM tool-using agent: the process the demo attaches H7 to.

Each turn it asks the local model API for a tool call over HTTP, runs the
tool in its work directory (read documents, write notes, tokenise text,
list the workspace) and sleeps like an agent waiting for the next turn.
Its ``python`` tool executes code the model sends: that is the injection
point the demo's attacks use, as real agents with code tools are exposed
to.  Bounded in turns and time.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import time
from pathlib import Path
from typing import Any


def tokenize(text: str, rounds: int) -> int:
    """A CPU burst shaped like tokenisation: split, hash, count."""
    n = 0
    for _ in range(rounds):
        for w in text.split():
            n += hashlib.blake2s(w.encode(), digest_size=4).digest()[0]
    return n


class Agent:
    def __init__(self, api: str, workdir: Path, seed: int) -> None:
        host, port = api.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.work = workdir
        self.rng = random.Random(seed)
        (self.work / "docs").mkdir(parents=True, exist_ok=True)
        (self.work / "notes").mkdir(parents=True, exist_ok=True)
        for k in range(4):
            p = self.work / "docs" / f"doc-{k}.md"
            if not p.exists():
                p.write_text(" ".join(f"token{i % 97} word{i % 13}" for i in range(2000)))
        self.turn = 0

    def ask(self) -> dict[str, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            body = json.dumps({"turn": self.turn, "messages": [{"role": "user", "content": "continue"}]})
            conn.request("POST", "/v1/chat", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = json.loads(resp.read())
        finally:
            conn.close()
        return dict(data["choices"][0]["tool_call"])

    def run_tool(self, call: dict[str, Any]) -> None:
        tool, args = call.get("tool"), call.get("args", {})
        k = int(args.get("k", 0)) % 4
        if tool == "read_file":
            (self.work / "docs" / f"doc-{k}.md").read_text()
        elif tool == "write_file":
            (self.work / "notes" / f"note-{k}.md").write_text(
                f"turn {self.turn}\n" * int(args.get("size", 3))
            )
        elif tool == "tokenize":
            tokenize((self.work / "docs" / f"doc-{k}.md").read_text()[:4000], int(args.get("size", 3)))
        elif tool == "list_dir":
            os.listdir(self.work / "docs")
        elif tool == "python":
            # The vulnerable tool: runs whatever code the "model" produced.
            scope: dict[str, Any] = {"__name__": "h7_injected", "ARGS": args}
            exec(compile(str(call.get("code", "")), str(call.get("name", "<model>")), "exec"), scope)

    def loop(self, max_turns: int, max_seconds: float) -> None:
        end = time.monotonic() + max_seconds
        while self.turn < max_turns and time.monotonic() < end:
            self.turn += 1
            try:
                self.run_tool(self.ask())
            except (OSError, ValueError, KeyError) as e:
                print(f"agent: turn {self.turn}: {e}", flush=True)
            time.sleep(self.rng.uniform(0.1, 0.3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--api", required=True, help="model API as 127.0.0.1:PORT")
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--turns", type=int, default=2000)
    ap.add_argument("--duration", type=float, default=300.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not args.api.startswith(("127.", "localhost:")):
        ap.error("the demo agent only talks to a loopback model API")
    Agent(args.api, args.workdir, args.seed).loop(args.turns, args.duration)


if __name__ == "__main__":
    main()
