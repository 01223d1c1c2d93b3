"""Pydantic AI agent (pydantic-ai-slim, OpenAI chat completions) for the H7 eval corpus.

Runs in its own environment (eval/.envs/pydantic-ai).  A second held-out
Python framework, added in session 7 for the NEXT full run: its tool
dispatch (pydantic validation of every call, an asyncio graph runner even
for ``run_sync``) and its HTTP client (httpx through the openai SDK) differ
from the four Python stacks measured so far, so its false-alert figures
are a fresh sample of "software nobody on the team wrote".  Alternates
``run_sync`` and ``run_stream`` (server-sent events).
"""

from __future__ import annotations

import asyncio

import common
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider


def main() -> None:
    a = common.args(__doc__.splitlines()[0])
    common.setup(a)
    model = OpenAIChatModel("scripted-1", provider=OpenAIProvider(base_url=a.api, api_key="sk-local"))
    agent = Agent(model, instructions="You keep the project's notes up to date using your tools.")

    # The tools are the shared plain implementations; pydantic-ai builds each schema from the signature
    # and docstring, as a user's tools would be declared.
    @agent.tool_plain
    def fetch_url(url: str) -> str:
        """Fetch a web page or API resource and return its text."""
        return common.fetch_url(url)

    @agent.tool_plain
    def read_file(path: str) -> str:
        """Read a text file from the work directory."""
        return common.read_file(path)

    @agent.tool_plain
    def write_file(path: str, content: str) -> str:
        """Write a text file in the work directory."""
        return common.write_file(path, content)

    @agent.tool_plain
    def list_dir(path: str) -> str:
        """List a directory of the work directory."""
        return common.list_dir(path)

    @agent.tool_plain
    def run_command(argv: list[str]) -> str:
        """Run a program such as git, ls or grep (no shell) and return its output."""
        return common.run_command(argv)

    @agent.tool_plain
    def run_python(code: str) -> str:
        """Execute Python code (a REPL in the agent) and return what it printed."""
        return common.run_python(code)

    common.ready(a)
    loop = asyncio.new_event_loop()

    async def streamed(prompt: str) -> None:
        async with agent.run_stream(prompt) as res:
            async for _ in res.stream_text(delta=True):
                pass

    def run_task(task: int, prompt: str) -> None:
        if task % 2 == 0:
            loop.run_until_complete(streamed(prompt))
        else:
            loop.run_until_complete(agent.run(prompt))

    common.loop(a, run_task)


if __name__ == "__main__":
    main()
