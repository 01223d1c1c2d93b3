"""OpenAI Agents SDK agent (openai-agents, Responses API) for the H7 eval corpus.

Runs in its own environment (eval/.envs/openai-agents).  Alternates
``Runner.run`` and ``Runner.run_streamed`` (server-sent events).  Tracing is
off: it would export to a hosted endpoint, and nothing may leave the host.
"""

from __future__ import annotations

import asyncio

import common
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI


@function_tool
def fetch_url(url: str) -> str:
    """Fetch a web page or API resource and return its text."""
    return common.fetch_url(url)


@function_tool
def read_file(path: str) -> str:
    """Read a text file from the work directory."""
    return common.read_file(path)


@function_tool
def write_file(path: str, content: str) -> str:
    """Write a text file in the work directory."""
    return common.write_file(path, content)


@function_tool
def list_dir(path: str) -> str:
    """List a directory of the work directory."""
    return common.list_dir(path)


@function_tool
def run_command(argv: list[str]) -> str:
    """Run a program such as git, ls or grep (no shell) and return its output."""
    return common.run_command(argv)


@function_tool
def run_python(code: str) -> str:
    """Execute Python code (a REPL in the agent) and return what it printed."""
    return common.run_python(code)


def main() -> None:
    a = common.args(__doc__.splitlines()[0])
    common.setup(a)
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=a.api, api_key="sk-local", max_retries=1, timeout=60)
    agent = Agent(
        name="workspace-assistant",
        instructions="You keep the project's notes up to date using your tools.",
        model=OpenAIResponsesModel(model="scripted-1", openai_client=client),
        tools=[fetch_url, read_file, write_file, list_dir, run_command, run_python],
    )
    common.ready(a)
    loop = asyncio.new_event_loop()

    async def streamed(prompt: str) -> None:
        res = Runner.run_streamed(agent, prompt, max_turns=30)
        async for _ in res.stream_events():
            pass

    def run_task(task: int, prompt: str) -> None:
        if task % 2 == 0:
            loop.run_until_complete(streamed(prompt))
        else:
            loop.run_until_complete(Runner.run(agent, prompt, max_turns=30))

    common.loop(a, run_task)


if __name__ == "__main__":
    main()
