"""The eval's agent stacks: what each runs, in which environment, and whether the default run has it.

One list, read by the harness (which runs them), the report (which tables them:
its order, and which stacks are opt-in) and the replay (which re-judges their
journals).  Stdlib only: the report runs in the eval's tools environment, without H7.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stack:
    name: str
    split: str  # "dev" or "held-out"
    lang: str  # the code tool's language
    cmd: tuple[str, ...]  # relative to eval/stacks; "{py}" is the stack env's python
    env: str
    what: str
    # In the default full run.  A stack added mid-series is opt-in (EVAL_STACKS=name) until the lead adds
    # it to the default: the pooled full runs (runs.json) compare like with like.
    default: bool = True


STACKS = (
    Stack(
        "langgraph",
        "dev",
        "py",
        ("{py}", "langgraph_agent.py"),
        "langgraph",
        "LangGraph ReAct agent (langgraph + langchain-openai), chat completions, streamed and not",
    ),
    Stack(
        "mcp",
        "dev",
        "py",
        ("{py}", "mcp_agent.py"),
        "mcp",
        "MCP client (mcp SDK) with a stdio server and a streamable-HTTP server, openai chat streaming",
    ),
    Stack(
        "openai-agents",
        "held-out",
        "py",
        ("{py}", "openai_agents_agent.py"),
        "openai-agents",
        "OpenAI Agents SDK (Python), Responses API, streamed and not",
    ),
    Stack(
        "smolagents",
        "held-out",
        "py",
        ("{py}", "smolagents_agent.py"),
        "smolagents",
        "smolagents CodeAgent (model writes Python run by its local executor)",
    ),
    Stack(
        "node-openai-agents",
        "held-out",
        "js",
        ("node", "node/agent.mjs"),
        "node",
        "OpenAI Agents SDK for JavaScript (@openai/agents) on Node 20, Responses API",
    ),
    Stack(
        "pydantic-ai",
        "held-out",
        "py",
        ("{py}", "pydantic_ai_agent.py"),
        "pydantic-ai",
        "Pydantic AI agent (pydantic-ai-slim, openai SDK over httpx), chat completions, streamed and not",
    ),
    Stack(
        "autogen",
        "held-out",
        "py",
        ("{py}", "autogen_agent.py"),
        "autogen",
        "AutoGen AgentChat AssistantAgent (autogen-ext's OpenAI client), code run by its local executor"
        " in a child interpreter, chat completions, streamed and not",
        default=False,
    ),
    Stack(
        "llamaindex",
        "held-out",
        "py",
        ("{py}", "llamaindex_agent.py"),
        "llamaindex",
        "LlamaIndex FunctionAgent (llama-index-core workflows, OpenAILike client), code run by its"
        " CodeInterpreterToolSpec as `python -c` in a child, chat completions, streamed and not",
        default=False,
    ),
)
