"""AutoGen AgentChat agent (autogen-agentchat + autogen-ext, OpenAI chat completions) for the H7 eval corpus.

Runs in its own environment (eval/.envs/autogen).  A held-out Python stack
added in session 24, opt-in until the lead adds it to the default run: its
code tool is AutoGen's own ``LocalCommandLineCodeExecutor``, which writes each
snippet to a fresh ``tmp_code_<sha256>.py`` in a code directory and runs it
with the interpreter as a child process -- the shape of every "code
interpreter" that executes outside the agent's own process (the other Python
stacks ``exec`` in-process).  Its tool loop (``max_tool_iterations``) and
runtime (asyncio, a model client over the openai SDK) are AutoGen's.
Alternates streamed and non-streamed model calls, and forgets each task's
conversation afterwards (``on_reset``), as a service agent does.
"""

from __future__ import annotations

import asyncio

import common
from autogen_agentchat.agents import AssistantAgent
from autogen_core import CancellationToken
from autogen_core.code_executor import CodeBlock
from autogen_core.models import ModelInfo
from autogen_core.tools import FunctionTool
from autogen_ext.code_executors.local import LocalCommandLineCodeExecutor
from autogen_ext.models.openai import OpenAIChatCompletionClient

SYSTEM = "You keep the project's notes up to date using your tools."


def main() -> None:
    a = common.args(__doc__.splitlines()[0])
    common.setup(a)
    info = ModelInfo(
        vision=False, function_calling=True, json_output=False, family="unknown", structured_output=False
    )
    client = OpenAIChatCompletionClient(
        model="scripted-1", base_url=a.api, api_key="sk-local", model_info=info
    )
    code_dir = common.WORK / "code"
    code_dir.mkdir(exist_ok=True)
    executor = LocalCommandLineCodeExecutor(work_dir=code_dir, timeout=60)

    async def run_python(code: str) -> str:
        """Execute Python code and return what it printed."""
        res = await executor.execute_code_blocks(
            [CodeBlock(code=code, language="python")], CancellationToken()
        )
        return f"{res.output}\n[exit {res.exit_code}]"[: common.MAX_OUT]

    # The plain tools are the shared implementations, wrapped as AutoGen tools from their signatures
    # and docstrings, as a user's tools would be.
    tools = [
        FunctionTool(common.fetch_url, "Fetch a web page or API resource and return its text."),
        FunctionTool(common.read_file, "Read a text file from the work directory."),
        FunctionTool(common.write_file, "Write a text file in the work directory."),
        FunctionTool(common.list_dir, "List a directory of the work directory."),
        FunctionTool(
            common.run_command, "Run a program such as git, ls or grep (no shell) and return its output."
        ),
        FunctionTool(run_python, "Execute Python code and return what it printed.", name="run_python"),
    ]
    agents = [
        AssistantAgent(
            f"notes_{mode}",
            model_client=client,
            tools=tools,
            system_message=SYSTEM,
            model_client_stream=stream,
            max_tool_iterations=12,
        )
        for mode, stream in (("streamed", True), ("plain", False))
    ]
    loop = asyncio.new_event_loop()
    loop.run_until_complete(executor.start())
    common.ready(a)

    async def one(agent: AssistantAgent, prompt: str) -> None:
        try:
            await agent.run(task=prompt)
        finally:
            await agent.on_reset(CancellationToken())

    def run_task(task: int, prompt: str) -> None:
        loop.run_until_complete(one(agents[task % 2], prompt))

    try:
        common.loop(a, run_task)
    finally:
        loop.run_until_complete(executor.stop())


if __name__ == "__main__":
    main()
