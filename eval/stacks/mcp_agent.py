"""An MCP host agent: the mcp SDK's Client over stdio AND streamable HTTP, an OpenAI chat loop.

Runs in its own environment (eval/.envs/mcp).  At start it launches two MCP
servers (eval/stacks/mcp_server.py): the workspace server over stdio and the
web server over streamable HTTP, lists their tools and offers them to the
model; each task is a streamed chat-completions tool loop, as MCP hosts
(desktop assistants, IDE agents) run one.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common
from mcp import Client, StdioServerParameters
from openai import AsyncOpenAI

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def text_of(result: Any) -> str:
    parts = [getattr(c, "text", "") for c in getattr(result, "content", []) or []]
    return "\n".join(p for p in parts if p)[: common.MAX_OUT]


async def amain(a: Any) -> None:
    port = free_port()
    http_srv = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "mcp_server.py"),
            "--transport",
            "http",
            "--workdir",
            str(a.workdir),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):  # bounded: up to 20 s for the server to listen
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            await asyncio.sleep(0.1)
    stdio = StdioServerParameters(
        command=sys.executable,
        args=[str(HERE / "mcp_server.py"), "--transport", "stdio", "--workdir", str(a.workdir)],
    )
    llm = AsyncOpenAI(base_url=a.api, api_key="sk-local", max_retries=1, timeout=60)
    try:
        async with Client(stdio) as ws, Client(f"http://127.0.0.1:{port}/mcp") as web:
            route: dict[str, Client] = {}
            tools: list[dict[str, Any]] = []
            for client in (ws, web):
                for t in (await client.list_tools()).tools:
                    route[t.name] = client
                    tools.append(
                        {
                            "type": "function",
                            "function": {
                                "name": t.name,
                                "description": t.description or "",
                                "parameters": t.input_schema,
                            },
                        }
                    )
            common.ready(a)

            async def run_task(task: int, prompt: str) -> None:
                msgs: list[dict[str, Any]] = [
                    {"role": "system", "content": "You are a workspace assistant with MCP tools."},
                    {"role": "user", "content": prompt},
                ]
                for _ in range(20):  # bounded tool loop
                    stream = await llm.chat.completions.create(
                        model="scripted-1", messages=msgs, tools=tools, stream=True
                    )
                    text = ""
                    calls: dict[int, dict[str, str]] = {}
                    async for chunk in stream:
                        if not chunk.choices:
                            continue
                        d = chunk.choices[0].delta
                        text += d.content or ""
                        for tc in d.tool_calls or []:
                            c = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                            c["id"] = tc.id or c["id"]
                            if tc.function:
                                c["name"] += tc.function.name or ""
                                c["arguments"] += tc.function.arguments or ""
                    if not calls:
                        return
                    msgs.append(
                        {
                            "role": "assistant",
                            "content": text or None,
                            "tool_calls": [
                                {
                                    "id": c["id"],
                                    "type": "function",
                                    "function": {"name": c["name"], "arguments": c["arguments"]},
                                }
                                for c in calls.values()
                            ],
                        }
                    )
                    for c in calls.values():
                        client = route.get(c["name"])
                        if client is None:
                            out = f"error: no tool {c['name']}"
                        else:
                            out = text_of(
                                await client.call_tool(c["name"], json.loads(c["arguments"] or "{}"))
                            )
                        msgs.append({"role": "tool", "tool_call_id": c["id"], "content": out})

            end = time.monotonic() + a.duration
            task = 0
            rng = random.Random(a.seed)
            while time.monotonic() < end:
                task += 1
                try:
                    await run_task(task, f"[task {task}] {rng.choice(common.PROMPTS)}.")
                except Exception as e:  # a failed task, not a dead agent
                    print(f"task {task}: {type(e).__name__}: {e}", flush=True)
                await asyncio.sleep(common.think_time(rng, end))
    finally:
        http_srv.terminate()
        http_srv.wait(timeout=10)


def main() -> None:
    a = common.args(__doc__.splitlines()[0])
    common.setup(a)
    asyncio.run(amain(a))


if __name__ == "__main__":
    main()
