"""smolagents CodeAgent (the model writes Python that calls its tools) for the H7 eval corpus.

Runs in its own environment (eval/.envs/smolagents).  The code runs in
smolagents' local executor inside the agent process; ``run_python`` is a
plain REPL tool for code the restricted executor refuses.
"""

from __future__ import annotations

import common
from smolagents import CodeAgent, OpenAIServerModel, tool


@tool
def fetch_url(url: str) -> str:
    """Fetch a web page or API resource and return its text.

    Args:
        url: the address to fetch
    """
    return common.fetch_url(url)


@tool
def read_file(path: str) -> str:
    """Read a text file from the work directory.

    Args:
        path: file path relative to the work directory
    """
    return common.read_file(path)


@tool
def write_file(path: str, content: str) -> str:
    """Write a text file in the work directory.

    Args:
        path: file path relative to the work directory
        content: the text to write
    """
    return common.write_file(path, content)


@tool
def list_dir(path: str) -> str:
    """List a directory of the work directory.

    Args:
        path: directory path relative to the work directory
    """
    return common.list_dir(path)


@tool
def run_command(argv: list) -> str:
    """Run a program such as git, ls or grep (no shell) and return its output.

    Args:
        argv: the program and its arguments
    """
    return common.run_command(argv)


@tool
def run_python(code: str) -> str:
    """Execute Python code in a plain interpreter and return what it printed.

    Args:
        code: the Python source
    """
    return common.run_python(code)


def main() -> None:
    a = common.args(__doc__.splitlines()[0])
    common.setup(a)
    model = OpenAIServerModel(model_id="scripted-1", api_base=a.api, api_key="sk-local")
    agent = CodeAgent(
        tools=[fetch_url, read_file, write_file, list_dir, run_command, run_python],
        model=model,
        max_steps=10,
        additional_authorized_imports=["json", "hashlib"],
        verbosity_level=int(__import__("os").environ.get("SMOL_VERBOSE", "0")),
        code_block_tags=("<code>", "</code>"),
    )
    common.ready(a)

    def run_task(task: int, prompt: str) -> None:
        agent.run(prompt, reset=True)

    common.loop(a, run_task)


if __name__ == "__main__":
    main()
