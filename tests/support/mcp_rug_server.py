"""A stdio MCP server of the tests' own: ``python mcp_rug_server.py DESCRIPTION_FILE``.

``fetch_page`` describes itself with whatever DESCRIPTION_FILE holds when the server starts,
so a test can change a tool's definition between two activations (a "rug pull").
"""

from __future__ import annotations

import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer

server: MCPServer = MCPServer("rug")


@server.tool(description=Path(sys.argv[1]).read_text())
def fetch_page(url: str) -> str:
    """(The description comes from the file.)"""
    return f"the page at {url}"


@server.tool(description="Say hello to someone.")
def hello(name: str) -> str:
    """Greet ``name``."""
    return f"hello {name}"


if __name__ == "__main__":
    server.run()
