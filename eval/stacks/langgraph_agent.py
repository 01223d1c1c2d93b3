"""LangGraph ReAct agent (langgraph.prebuilt + langchain-openai ChatOpenAI) for the H7 eval corpus.

Runs in its own environment (eval/.envs/langgraph).  Alternates streamed and
plain chat-completion calls, as LangGraph apps that stream to a UI do.
"""

from __future__ import annotations

import common
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.prebuilt import create_react_agent


@tool
def fetch_url(url: str) -> str:
    """Fetch a web page or API resource and return its text."""
    return common.fetch_url(url)


@tool
def read_file(path: str) -> str:
    """Read a text file from the work directory."""
    return common.read_file(path)


@tool
def write_file(path: str, content: str) -> str:
    """Write a text file in the work directory."""
    return common.write_file(path, content)


@tool
def list_dir(path: str = ".") -> str:
    """List a directory of the work directory."""
    return common.list_dir(path)


@tool
def run_command(argv: list[str]) -> str:
    """Run a program such as git, ls or grep (no shell) and return its output."""
    return common.run_command(argv)


@tool
def run_python(code: str) -> str:
    """Execute Python code (a REPL in the agent) and return what it printed."""
    return common.run_python(code)


def main() -> None:
    a = common.args(__doc__.splitlines()[0])
    common.setup(a)
    tools = [fetch_url, read_file, write_file, list_dir, run_command, run_python]
    graphs = {
        s: create_react_agent(
            ChatOpenAI(
                model="scripted-1", base_url=a.api, api_key="sk-local", streaming=s, max_retries=1, timeout=60
            ),
            tools,
        )
        for s in (False, True)
    }
    common.ready(a)

    def run_task(task: int, prompt: str) -> None:
        graph = graphs[task % 2 == 0]
        if task % 2 == 0:
            for _ in graph.stream(
                {"messages": [("user", prompt)]}, {"recursion_limit": 30}, stream_mode="values"
            ):
                pass
        else:
            graph.invoke({"messages": [("user", prompt)]}, {"recursion_limit": 30})

    common.loop(a, run_task)


if __name__ == "__main__":
    main()
