"""A granted server's tools through the gateway's /mcp/<server> route, under their own names."""

from __future__ import annotations

from decimal import Decimal

from shared.accounting import Spending
from shared.gateway import Gateway
from shared.mcp import McpHost
from tests.shared.mcp.conftest import definition
from tests.support.mcp_client import mcp_session, result_text


async def test_the_filesystem_server_is_reached_through_its_route(host: McpHost) -> None:
    agent = definition("routed", ["filesystem:write"], ["filesystem"])
    async with host.open(agent, note=lambda _t: None) as [filesystem], Gateway() as gateway:
        lease = gateway.leases.issue(
            agent="routed",
            activation_id="act-9",
            budget=Spending().for_activation(agent_id="routed", cost_cap_usd=Decimal(1)),
            upstreams={},
            tools={"filesystem": filesystem},
        )
        async with mcp_session(f"{gateway.url}/mcp/filesystem", lease.token) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert {"write_file", "read_text_file", "list_allowed_directories"} <= names
            assert not any(n.startswith("mcp__") for n in names), "the CLI adds its own prefix"
            wrote = await s.call_tool("write_file", {"path": "/workspace/x.txt", "content": "through the gateway"})
            assert not wrote.is_error
            read = await s.call_tool("read_text_file", {"path": "/workspace/x.txt"})
            assert result_text(read) == "through the gateway"
            outside = await s.call_tool("read_text_file", {"path": "/etc/passwd"})
            assert outside.is_error, "the server's own confinement holds"
