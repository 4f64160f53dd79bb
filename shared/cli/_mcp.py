"""``botburrow mcp approve AGENT SERVER``: accept the tool definitions a server now offers an agent.

A tool whose definition changed since it was first pinned is refused (``shared.mcp``);
this pins what the server offered the agent last. Reads ``REDIS_URL`` and
``STREAM_PREFIX``. Exit 0 when pins were written, 1 when the server never offered the
agent anything.
"""

from __future__ import annotations

import argparse
import sys

from shared.mcp import ToolPins
from shared.settings import Settings
from shared.streams import StreamKeys, connect


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mcp = sub.add_parser("mcp", help="MCP servers: accept changed tool definitions")
    mcp_sub = mcp.add_subparsers(dest="action", required=True)
    approve = mcp_sub.add_parser(
        "approve", help="pin the tool definitions SERVER last offered AGENT (a changed tool is refused until then)"
    )
    approve.add_argument("agent", metavar="AGENT", help="the agent's name")
    approve.add_argument("server", metavar="SERVER", help="the MCP server's name, as in capabilities.mcp_servers")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Pin what was seen; say which tools changed."""
    redis = connect(settings.redis_url)
    try:
        pins = ToolPins(redis, keys=StreamKeys(settings.streams.prefix))
        moved = await pins.approve(args.agent, args.server)
        if not await pins.pinned(args.agent, args.server):
            print(f"botburrow: {args.server!r} has offered {args.agent!r} no tool yet", file=sys.stderr)
            return 1
        if moved:
            print(f"approved {len(moved)} tool definition(s) of {args.server} for {args.agent}: {', '.join(moved)}")
        else:
            print(f"nothing to approve: every tool of {args.server} for {args.agent} is as pinned")
        return 0
    finally:
        await redis.aclose()
