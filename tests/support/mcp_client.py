"""An MCP client as a CLI would be one: the real SDK over streamable HTTP, with a bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import mcp_types as types
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


@asynccontextmanager
async def mcp_session(url: str, token: str) -> AsyncIterator[ClientSession]:
    """An initialized session with the MCP server at ``url``, authenticated by ``token``."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def result_text(result: types.CallToolResult) -> str:
    """The text blocks of a tool result, joined."""
    return "".join(b.text for b in result.content if isinstance(b, types.TextContent))
