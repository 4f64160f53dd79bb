"""The MCP routes: ``/mcp/hub`` (the Hub tools) and ``/mcp/<server>`` (each granted server), over streamable HTTP.

One MCP server (the SDK's low-level ``Server``, stateless, JSON answers) serves every
route; each request finds its activation by its bearer token and its family of tools by
the route's name, and every call goes through a ``Toolbox`` of that family, as in the
native loop: the same tool code, limits, idempotency keys and done-markers, so a reply a
CLI posts through ``/mcp/hub`` carries ``Idempotency-Key: <activation>:reply:<notification>``
and a retried activation posts it once. Tools keep their server's own names here (the
CLI adds its ``mcp__<route>__`` prefix).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import mcp_types as types
import structlog
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from shared import tracing
from shared.llm import ToolCall, ToolSpec
from shared.mcp import McpTools
from shared.tools import Toolbox, ToolSet, ToolUse

from ._leases import Lease, Leases

log = structlog.get_logger("botburrow.gateway")

MAX_OUTPUT_CHARS = 16_000


class McpRoutes:
    """The MCP side of the gateway: an ASGI app for ``/mcp/{name}`` (run ``lifespan`` with the app)."""

    def __init__(self, leases: Leases) -> None:
        self._leases = leases
        server: Server[Any] = Server(
            "botburrow-gateway", version="1", on_list_tools=self._list_tools, on_call_tool=self._call_tool
        )
        self._manager = StreamableHTTPSessionManager(
            app=server,
            json_response=True,
            stateless=True,
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """The session manager's task group, for as long as the app runs."""
        async with self._manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a bad token or an unknown route over plain HTTP; hand the rest to the MCP server."""
        request = Request(scope, receive)
        lease = self._leases.get(_bearer(request))
        if lease is None:
            await JSONResponse({"error": "invalid or expired activation token"}, status_code=401)(scope, receive, send)
            return
        name = request.path_params.get("name", "")
        if name not in lease.tools:
            body = {"error": f"no MCP route {name!r} for this activation", "routes": sorted(lease.tools)}
            await JSONResponse(body, status_code=404)(scope, receive, send)
            return
        if request.method in ("GET", "HEAD"):
            # Stateless: no message of the server's would ever go down a GET's SSE stream, which
            # would stay open (a task and a connection) until the client hangs up. The spec's
            # answer for a server without that stream is a 405.
            body = {"error": "this MCP server offers no SSE stream: POST JSON-RPC requests"}
            await JSONResponse(body, status_code=405, headers={"allow": "POST, DELETE"})(scope, receive, send)
            return
        await self._manager.handle_request(scope, receive, send)

    async def _list_tools(self, ctx: Any, _params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        lease, name = self._route(ctx)
        family = lease.tools[name]
        return types.ListToolsResult(
            tools=[
                types.Tool(name=shown, description=spec.description, input_schema=spec.input_schema)
                for shown, spec in _offered(family)
            ]
        )

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        lease, name = self._route(ctx)
        family = lease.tools[name]
        called = dict(_offered(family)).get(params.name)
        if called is None:
            return _error(f"unknown tool {params.name!r} on {name}")
        box = Toolbox([family], max_output_chars=MAX_OUTPUT_CHARS, observer=_observer(lease))
        call = ToolCall(id=f"gw-{uuid.uuid4().hex[:12]}", name=called.name, input=dict(params.arguments or {}))
        try:
            with tracing.in_span(lease.traceparent):  # the tool's Hub requests carry the activation's trace
                result = await box.run(call)
        except Exception as exc:
            log.warning(
                "gateway.tool_failed", agent=lease.agent, route=name, tool=params.name, error=type(exc).__name__
            )
            return _error(f"the tool failed: {type(exc).__name__}: {exc}"[:500])
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result.content)], is_error=result.is_error
        )

    def _route(self, ctx: Any) -> tuple[Lease, str]:
        request: Request = ctx.request
        lease = self._leases.get(_bearer(request))
        if lease is None:  # checked at the door; revoked since
            raise PermissionError("the activation token was revoked")
        return lease, str(request.path_params.get("name", ""))


def route_tools(family: ToolSet) -> list[str]:
    """The tool names an MCP client of the gateway sees on ``family``'s route."""
    return [shown for shown, _ in _offered(family)]


def _offered(family: ToolSet) -> list[tuple[str, ToolSpec]]:
    """``(name shown on the route, spec)``: an MCP server's tools keep their own names."""
    specs = list(family.specs())
    if isinstance(family, McpTools):
        return list(zip(family.tools, specs, strict=True))
    return [(spec.name, spec) for spec in specs]


def _observer(lease: Lease) -> Any:
    transcript = lease.transcript
    if transcript is None:
        return None

    def record(use: ToolUse) -> None:
        transcript.add(
            "tool",
            via="gateway",
            family=use.family,
            name=use.call.name,
            input=use.call.input,
            result=use.result.content,
            is_error=use.result.is_error,
            duration_ms=use.duration_ms,
        )

    return record


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None
