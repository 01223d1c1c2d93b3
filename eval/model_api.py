"""A scripted LLM behind an OpenAI-compatible HTTP API on 127.0.0.1, for `make eval`.

The agent frameworks under evaluation are real and unmodified: they talk to
this server exactly as they would to a hosted model, through their own
clients (chat completions and the Responses API, plain JSON or streamed as
server-sent events).  Only the model is scripted, so that a run is
reproducible and needs no network.

What the model "decides": every user message carries ``[task N]``.  For task
N the model draws a plan (seeded by N) of 1-6 tool calls over the tools the
request offers -- fetch a page from one of several local sites, read or
write a file, list a directory, run ``git``/``ls``/``wc``/``grep``, run a
snippet in the code tool -- and then answers in text.  It replays its plan
step by step, counting the tool results already in the conversation, so it
works with any framework that resends history (they all do).

A prompt injection is simulated by ``POST /inject``: the queued steps are
what the model emits on its next turn instead of its plan, as a model
would after reading hostile content.  The agent then runs them with its own
tools.  ``GET /stats`` says when each injected step was served.

Stdlib only: it runs under any Python 3.11, outside every agent's environment.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CODE_TOOLS = ("run_python", "run_js")
CODE_AGENT_TOOLS = ("fetch_url", "read_file", "write_file", "list_dir", "run_command", "run_python")
TASK_MARK = "[task "

# Benign snippets for the code tool, per language: what a coding agent runs.
PY_SNIPPETS = (
    "import json\nrows = [{{'k': i, 'v': i * i}} for i in range({n})]\nprint(json.dumps(rows)[:80])",
    "import statistics\nxs = [((i * 37) % 101) / 7 for i in range({n} * 10)]\n"
    "print(round(statistics.mean(xs), 3), round(statistics.pstdev(xs), 3))",
    "import re\ntext = 'alpha beta gamma delta ' * {n}\nprint(len(re.findall(r'\\b\\w{{5}}\\b', text)))",
    "import hashlib\nprint(hashlib.sha256(b'chunk-{n}').hexdigest()[:16])",
    "from collections import Counter\n"
    "print(Counter('the quick brown fox jumps over the lazy dog' * {n}).most_common(3))",
)
JS_SNIPPETS = (
    # a block each: run_js evaluates every call in one persistent vm context, where a second
    # top-level `const rows` is a SyntaxError (eval/attacks.py, JavaScript payloads)
    "{{ const rows = Array.from({{length: {n}}}, (_, i) => ({{k: i, v: i * i}}));"
    " JSON.stringify(rows).slice(0, 80) }}",
    "{{ const xs = Array.from({{length: {n} * 10}}, (_, i) => ((i * 37) % 101) / 7);"
    " xs.reduce((a, b) => a + b, 0) / xs.length }}",
    "('alpha beta gamma delta '.repeat({n})).split(' ').filter(w => w.length === 5).length",
    "[...'the quick brown fox'.repeat({n})].sort().slice(0, 10).join('')",
)
COMMANDS = (
    ["git", "status", "--short"],
    ["git", "log", "--oneline", "-n", "5"],
    ["git", "diff", "--stat"],
    ["ls", "-la"],
    ["wc", "-l", "notes.md"],
    ["grep", "-c", "TODO", "notes.md"],
    ["date", "-u"],
)


class Script:
    """The scripted model's policy: plans per task, plus queued injections."""

    def __init__(self, seed: int, sites: list[str], files: list[str]) -> None:
        self.seed = seed
        self.sites = sites
        self.files = files or ["notes.md"]
        self.lock = threading.Lock()
        self.injected: list[dict[str, Any]] = []
        self.served: list[dict[str, Any]] = []
        self.turns = 0

    def plan(self, task: int, tools: list[str]) -> list[dict[str, Any]]:
        rng = random.Random(self.seed * 1_000_003 + task)
        steps: list[dict[str, Any]] = []
        avail = set(tools)
        kinds: list[str] = [
            k for k in ("fetch_url", "read_file", "write_file", "list_dir", "run_command") if k in avail
        ]
        code = next((c for c in CODE_TOOLS if c in avail), None)
        if code:
            kinds.append(code)
        if not kinds:
            return steps
        weights = {"fetch_url": 4, "read_file": 3, "write_file": 2, "list_dir": 1, "run_command": 2}
        for _ in range(rng.choice((1, 2, 2, 3, 3, 4, 5, 6))):
            kind = rng.choices(kinds, [weights.get(k, 2) for k in kinds])[0]
            steps.append(self._step(kind, rng, task))
        return steps

    def _step(self, kind: str, rng: random.Random, task: int) -> dict[str, Any]:
        if kind == "fetch_url":
            base = rng.choice(self.sites) if self.sites else "http://127.0.0.1:1"
            page = rng.choice(
                (
                    "/",
                    "/docs/intro",
                    "/docs/api",
                    f"/api/items?page={rng.randrange(1, 9)}",
                    "/search?q=agent",
                    "/changelog",
                    "/api/status",
                )
            )
            return {"name": "fetch_url", "arguments": {"url": base.rstrip("/") + page}}
        if kind == "read_file":
            return {"name": "read_file", "arguments": {"path": rng.choice(self.files)}}
        if kind == "write_file":
            name = rng.choice(("notes.md", "summary.md", f"draft-{task % 7}.txt", "todo.txt"))
            body = f"# task {task}\n" + "".join(
                f"- item {i}: {rng.random():.4f}\n" for i in range(rng.randrange(2, 30))
            )
            return {"name": "write_file", "arguments": {"path": name, "content": body}}
        if kind == "list_dir":
            return {"name": "list_dir", "arguments": {"path": rng.choice((".", "docs"))}}
        if kind == "run_command":
            return {"name": "run_command", "arguments": {"argv": list(rng.choice(COMMANDS))}}
        n = rng.randrange(3, 40)
        snippets = JS_SNIPPETS if kind == "run_js" else PY_SNIPPETS
        return {"name": kind, "arguments": {"code": rng.choice(snippets).format(n=n)}}

    def next_action(self, task: int, done: int, tools: list[str]) -> dict[str, Any] | None:
        """The tool call to make now (None: answer in text).  Injections go first."""
        with self.lock:
            self.turns += 1
            if self.injected:
                step = self.injected.pop(0)
                # an injected step the agent cannot run (no such tool) is dropped, as a model would
                if step["name"] in tools or not tools:
                    self.served.append(
                        {"name": step["name"], "label": step.get("label", ""), "t": time.time()}
                    )
                    return {"name": step["name"], "arguments": step["arguments"], "injected": True}
        plan = self.plan(task, tools)
        return plan[done] if done < len(plan) else None

    def inject(self, steps: list[dict[str, Any]]) -> int:
        with self.lock:
            self.injected.extend(steps)
            return len(self.injected)


# ------------------------------------------------------------------ request parsing
def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _task_of(text: str) -> int:
    i = text.rfind(TASK_MARK)
    if i < 0:
        return 0
    digits = "".join(ch for ch in text[i + len(TASK_MARK) : i + len(TASK_MARK) + 12] if ch.isdigit())
    return int(digits or 0)


def _task_turn(items: list[dict[str, Any]]) -> tuple[int, int]:
    """(index, task number) of the last user turn that carries a task mark; (-1, 0) if none.

    Both wire formats (chat messages, responses input items) mark a task the same way;
    what came after that turn is the task's progress.
    """
    last_user = max(
        (
            i
            for i, m in enumerate(items)
            if m.get("role") == "user" and TASK_MARK in _text_of(m.get("content"))
        ),
        default=-1,
    )
    return last_user, (_task_of(_text_of(items[last_user].get("content"))) if last_user >= 0 else 0)


def chat_state(req: dict[str, Any]) -> tuple[int, int, list[str]]:
    """(task, tool results since the task's user message, tool names) of a chat request."""
    msgs = req.get("messages") or []
    last_user, task = _task_turn(msgs)
    done = sum(1 for m in msgs[last_user + 1 :] if m.get("role") == "tool")
    if not any(m.get("role") == "tool" for m in msgs[last_user + 1 :]):
        # code agents (no tool role): count the observations fed back as user turns
        done = sum(1 for m in msgs[last_user + 1 :] if m.get("role") == "assistant")
    tools = [str(t.get("function", {}).get("name", t.get("name", ""))) for t in req.get("tools") or []]
    return task, done, tools


def responses_state(req: dict[str, Any]) -> tuple[int, int, list[str]]:
    items = req.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    items = items or []
    last_user, task = _task_turn(items)
    done = sum(1 for m in items[last_user + 1 :] if m.get("type") == "function_call_output")
    tools = [
        str(t.get("name", "")) for t in req.get("tools") or [] if t.get("type", "function") == "function"
    ]
    return task, done, tools


# ------------------------------------------------------------------ the server
class ModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Script, port: int = 0, latency: tuple[float, float] = (0.05, 0.6)) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.script = script
        self.latency = latency
        self.rng = random.Random(script.seed)
        self.requests = {"chat": 0, "chat_stream": 0, "responses": 0, "responses_stream": 0}

    def think(self) -> None:
        """Generation time: a scripted model still takes a while to answer."""
        lo, hi = self.latency
        time.sleep(lo + (hi - lo) * self.rng.random() ** 2)


def _final_text(task: int, done: int) -> str:
    return f"Task {task} done after {done} tool call(s). Summary: the workspace notes are up to date."


def _chat_stream(
    base: dict[str, Any],
    first: dict[str, Any],
    deltas: Iterable[dict[str, Any]],
    finish: str,
    usage: dict[str, Any] | None,
) -> Iterator[tuple[str | None, Any]]:
    """A streamed chat completion as the OpenAI API sends it, for text and tool calls alike.

    The role delta, the content (or arguments) deltas, the finish reason, the
    usage chunk when the client asked for it, then ``[DONE]``: the frameworks'
    parsers expect exactly this order, so it is written once.
    """

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> tuple[None, dict[str, Any]]:
        return None, {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    yield chunk(first)
    for d in deltas:
        yield chunk(d)
    yield chunk({}, finish)
    if usage is not None:
        yield None, {**base, "choices": [], "usage": usage}
    yield None, "[DONE]"


def _chunks(s: str, n: int = 3) -> list[str]:
    step = max(1, len(s) // n)
    return [s[i : i + step] for i in range(0, len(s), step)] or [""]


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- plumbing
    def _json(self, code: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _sse(self, events: Iterator[tuple[str | None, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for name, data in events:
            head = f"event: {name}\n" if name else ""
            payload = data if isinstance(data, str) else json.dumps(data)
            self.wfile.write(f"{head}data: {payload}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.005)

    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("Content-Length", "0") or 0)
        raw = self.rfile.read(min(n, 16 << 20)) if n else b"{}"
        try:
            obj = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return obj if isinstance(obj, dict) else {}

    # -- routes
    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._json(
                200, {"object": "list", "data": [{"id": "scripted-1", "object": "model", "owned_by": "h7"}]}
            )
        elif self.path == "/stats":
            s = self.server.script
            with s.lock:
                self._json(
                    200,
                    {
                        "turns": s.turns,
                        "served": list(s.served),
                        "pending": len(s.injected),
                        "requests": dict(self.server.requests),
                    },
                )
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        req = self._body()
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/chat/completions"):
            self._chat(req)
        elif path.endswith("/responses"):
            self._responses(req)
        elif path == "/register-site":
            # an agent that serves pages from inside its own process tells the model where
            url = str(req.get("url", ""))
            if url.startswith("http://127.") and url not in self.server.script.sites:
                with self.server.script.lock:
                    self.server.script.sites.append(url)
            self._json(200, {"sites": list(self.server.script.sites)})
        elif path == "/inject":
            steps = req.get("steps") or []
            self._json(200, {"queued": self.server.script.inject(list(steps))})
        else:
            self._json(404, {"error": {"message": f"no route {path}"}})

    # -- chat completions
    def _chat(self, req: dict[str, Any]) -> None:
        task, done, tools = chat_state(req)
        srv = self.server
        srv.think()
        model = str(req.get("model", "scripted-1"))
        act = srv.script.next_action(task, done, tools) if tools else None
        code_agent = not tools and _code_agent(req)
        if code_agent:
            act_text = _code_turn(srv.script, task, done)
        cid = "chatcmpl-" + uuid.uuid4().hex[:20]
        created = int(time.time())
        stream = bool(req.get("stream"))
        srv.requests["chat_stream" if stream else "chat"] += 1
        usage = {"prompt_tokens": 100 + 20 * done, "completion_tokens": 20, "total_tokens": 120 + 20 * done}
        if act is not None:
            call_id = "call_" + uuid.uuid4().hex[:16]
            args = json.dumps(act["arguments"])
            if not stream:
                msg = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": act["name"], "arguments": args},
                        }
                    ],
                }
                self._json(
                    200,
                    {
                        "id": cid,
                        "object": "chat.completion",
                        "created": created,
                        "model": model,
                        "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls"}],
                        "usage": usage,
                    },
                )
                return

            first = {
                "index": 0,
                "id": call_id,
                "type": "function",
                "function": {"name": act["name"], "arguments": ""},
            }
            self._sse(
                _chat_stream(
                    {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model},
                    {"role": "assistant", "content": None, "tool_calls": [first]},
                    (
                        {"tool_calls": [{"index": 0, "function": {"arguments": part}}]}
                        for part in _chunks(args, 4)
                    ),
                    "tool_calls",
                    usage if (req.get("stream_options") or {}).get("include_usage") else None,
                )
            )
            return
        text = act_text if code_agent else _final_text(task, done)
        if not stream:
            self._json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
            return

        self._sse(
            _chat_stream(
                {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model},
                {"role": "assistant", "content": ""},
                ({"content": part} for part in _chunks(text, 6)),
                "stop",
                usage if (req.get("stream_options") or {}).get("include_usage") else None,
            )
        )

    # -- Responses API
    def _responses(self, req: dict[str, Any]) -> None:
        task, done, tools = responses_state(req)
        srv = self.server
        srv.think()
        act = srv.script.next_action(task, done, tools) if tools else None
        rid = "resp_" + uuid.uuid4().hex[:20]
        created = int(time.time())
        model = str(req.get("model", "scripted-1"))
        stream = bool(req.get("stream"))
        srv.requests["responses_stream" if stream else "responses"] += 1
        usage = {
            "input_tokens": 100 + 20 * done,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 20,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 120 + 20 * done,
        }
        if act is not None:
            item: dict[str, Any] = {
                "type": "function_call",
                "id": "fc_" + uuid.uuid4().hex[:16],
                "call_id": "call_" + uuid.uuid4().hex[:16],
                "name": act["name"],
                "arguments": json.dumps(act["arguments"]),
                "status": "completed",
            }
        else:
            item = {
                "type": "message",
                "id": "msg_" + uuid.uuid4().hex[:16],
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": _final_text(task, done), "annotations": []}],
            }

        def resp(status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "id": rid,
                "object": "response",
                "created_at": created,
                "status": status,
                "model": model,
                "output": output,
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": req.get("tools") or [],
                "temperature": 1.0,
                "top_p": 1.0,
                "text": {"format": {"type": "text"}},
                "truncation": "disabled",
                "error": None,
                "incomplete_details": None,
                "instructions": req.get("instructions"),
                "metadata": {},
                "usage": usage if status == "completed" else None,
            }

        if not stream:
            self._json(200, resp("completed", [item]))
            return

        def events() -> Iterator[tuple[str | None, Any]]:
            seq = iter(range(1_000_000))

            def ev(kind: str, **kw: Any) -> tuple[str, dict[str, Any]]:
                return kind, {"type": kind, "sequence_number": next(seq), **kw}

            def item_ev(kind: str, **kw: Any) -> tuple[str, dict[str, Any]]:
                """An event about the one output item (and, with content_index, its one text part)."""
                return ev(kind, item_id=item["id"], output_index=0, **kw)

            yield ev("response.created", response=resp("in_progress", []))
            yield ev("response.in_progress", response=resp("in_progress", []))
            if item["type"] == "function_call":
                yield ev(
                    "response.output_item.added",
                    output_index=0,
                    item={**item, "arguments": "", "status": "in_progress"},
                )
                for part in _chunks(item["arguments"], 4):
                    yield item_ev("response.function_call_arguments.delta", delta=part)
                yield item_ev("response.function_call_arguments.done", arguments=item["arguments"])
            else:
                text = item["content"][0]["text"]
                yield ev(
                    "response.output_item.added",
                    output_index=0,
                    item={**item, "content": [], "status": "in_progress"},
                )
                part0 = {"type": "output_text", "text": "", "annotations": []}
                yield item_ev("response.content_part.added", content_index=0, part=part0)
                for part in _chunks(text, 6):
                    yield item_ev("response.output_text.delta", content_index=0, delta=part, logprobs=[])
                yield item_ev("response.output_text.done", content_index=0, text=text, logprobs=[])
                yield item_ev("response.content_part.done", content_index=0, part=item["content"][0])
            yield ev("response.output_item.done", output_index=0, item=item)
            yield ev("response.completed", response=resp("completed", [item]))

        self._sse(events())


# ------------------------------------------------------------------ code agents (smolagents CodeAgent)
def _code_agent(req: dict[str, Any]) -> bool:
    msgs = req.get("messages") or []
    sys_text = " ".join(_text_of(m.get("content")) for m in msgs if m.get("role") == "system")
    return "final_answer" in sys_text


def _code_turn(script: Script, task: int, done: int) -> str:
    """A code agent's turn: Python that calls the agent's tools as functions."""
    act = script.next_action(task, done, list(CODE_AGENT_TOOLS))
    if act is None:
        return f"Thought: I have what I need.\n<code>\nfinal_answer({_final_text(task, done)!r})\n</code>"
    args = ", ".join(f"{k}={v!r}" for k, v in act["arguments"].items())
    call = f"result = {act['name']}({args})\nprint(str(result)[:200])"
    if act["name"] in CODE_TOOLS and "code" in act["arguments"]:
        # a benign snippet runs in the agent's own code executor; an injected one
        # goes through the plain REPL tool, which the restricted executor cannot refuse
        code = act["arguments"]["code"]
        call = (
            code
            if not act.get("injected")
            else f"result = run_python(code={code!r})\nprint(str(result)[:200])"
        )
    return f"Thought: next step {done + 1} of task {task}.\n<code>\n{call}\n</code>"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--site", action="append", default=[], help="base URL of a site the model may fetch")
    ap.add_argument("--file", action="append", default=[], help="a workspace file the model may read")
    ap.add_argument("--duration", type=float, default=7200.0, help="serve at most this long (s)")
    a = ap.parse_args()
    srv = ModelServer(Script(a.seed, a.site, a.file), a.port)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    tmp = a.port_file.with_suffix(".tmp")
    tmp.write_text(str(srv.server_address[1]))
    tmp.rename(a.port_file)
    time.sleep(a.duration)
    srv.shutdown()


if __name__ == "__main__":
    main()
