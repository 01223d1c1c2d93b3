"""LlamaIndex FunctionAgent (llama-index-core workflows, OpenAI-compatible chat API) for the H7 eval corpus.

Runs in its own environment (eval/.envs/llamaindex).  A held-out Python stack
added in session 25, opt-in like AutoGen: its code tool is LlamaIndex's own
``CodeInterpreterToolSpec`` (llama-index-tools-code-interpreter), which runs
each snippet as ``sys.executable -c <code>`` in a child process -- code in a
child interpreter again, but inline in its argv rather than in a file (AutoGen
writes a file first; every other Python stack ``exec``s in-process).  Its agent
loop is a llama-index workflow (``FunctionAgent``) over an
``OpenAILike`` model client, the documented way to reach a local
OpenAI-compatible server.  Alternates streamed and non-streamed model calls,
with a fresh memory per task, as a service agent does.
"""

from __future__ import annotations

import asyncio

import common
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai_like import OpenAILike
from llama_index.tools.code_interpreter import CodeInterpreterToolSpec

SYSTEM = "You keep the project's notes up to date using your tools."


def main() -> None:
    a = common.args(__doc__.splitlines()[0])
    common.setup(a)
    interpreter = CodeInterpreterToolSpec()

    def run_python(code: str) -> str:
        """Execute Python code and return what it printed."""
        return str(interpreter.code_interpreter(code))[: common.MAX_OUT]

    # The plain tools are the shared implementations, wrapped as LlamaIndex tools from their
    # signatures and docstrings, as a user's tools would be; the code tool is the tool spec's.
    tools = [
        FunctionTool.from_defaults(fn=f)
        for f in (common.fetch_url, common.read_file, common.write_file, common.list_dir, common.run_command)
    ]
    tools.append(FunctionTool.from_defaults(fn=run_python, name="run_python"))
    agents = []
    for stream in (True, False):
        llm = OpenAILike(
            model="scripted-1",
            api_base=a.api,
            api_key="sk-local",
            is_chat_model=True,
            is_function_calling_model=True,
            context_window=32768,
            timeout=60,
        )
        agents.append(FunctionAgent(tools=tools, llm=llm, system_prompt=SYSTEM, streaming=stream))
    loop = asyncio.new_event_loop()
    common.ready(a)

    async def one(agent: FunctionAgent, prompt: str) -> None:
        await agent.run(user_msg=prompt, max_iterations=24)

    def run_task(task: int, prompt: str) -> None:
        loop.run_until_complete(one(agents[task % 2], prompt))

    common.loop(a, run_task)


if __name__ == "__main__":
    main()
