"""The MCP tool servers of the eval's MCP stack (mcp SDK, MCPServer), over stdio or streamable HTTP.

``--transport stdio``: the workspace server (files, commands, a Python REPL),
as coding assistants launch a local MCP server.  ``--transport http``: the
web server (fetch), reached over MCP's streamable HTTP transport.  Both are
started by the agent and so are watched with it.
"""

from __future__ import annotations

import argparse
import os

import common
from mcp.server.mcpserver import MCPServer


def workspace_server() -> MCPServer:
    mcp = MCPServer("workspace")

    @mcp.tool()
    def read_file(path: str) -> str:
        """Read a text file from the work directory."""
        return common.read_file(path)

    @mcp.tool()
    def write_file(path: str, content: str) -> str:
        """Write a text file in the work directory."""
        return common.write_file(path, content)

    @mcp.tool()
    def run_command(argv: list[str]) -> str:
        """Run a program such as git, ls or grep (no shell) and return its output."""
        return common.run_command(argv)

    @mcp.tool()
    def run_python(code: str) -> str:
        """Execute Python code in the server's interpreter and return what it printed."""
        return common.run_python(code)

    return mcp


def web_server() -> MCPServer:
    mcp = MCPServer("web")

    @mcp.tool()
    def fetch_url(url: str) -> str:
        """Fetch a web page or API resource and return its text."""
        return common.fetch_url(url)

    @mcp.tool()
    def list_dir(path: str = ".") -> str:
        """List a directory of the work directory."""
        return common.list_dir(path)

    return mcp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transport", choices=("stdio", "http"), required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    common.WORK = common.Path(a.workdir).resolve()
    os.chdir(common.WORK)
    if a.transport == "stdio":
        workspace_server().run("stdio")
    else:
        web_server().run("streamable-http", host="127.0.0.1", port=a.port)


if __name__ == "__main__":
    main()
