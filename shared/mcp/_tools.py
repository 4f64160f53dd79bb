"""``McpTools``: one MCP server's tools as a family of the one tool layer.

Names are namespaced per server (``mcp__<server>__<tool>``, at most 64 characters, as
the LLM APIs allow); descriptions are cleaned of control characters and capped at
``MAX_DESCRIPTION_CHARS``; results are the text of the server's content blocks, cut by
the toolbox like every tool's. Each call is logged with its arguments redacted and
counted (``botburrow_mcp_calls_total{server,tool,outcome}``, a latency histogram). A
server that errs, times out or is gone answers the model with an error; none of that
fails the activation.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import mcp_types as types
import structlog
from mcp import ClientSession, MCPError

from shared.llm import ToolSpec
from shared.logs import Redactor
from shared.tools import ToolInputError, cut

from ._metrics import McpMetrics

log = structlog.get_logger("botburrow.mcp")

MAX_DESCRIPTION_CHARS = 2048
MAX_NAME_CHARS = 64
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})
"""Controls, formats (zero-width, bidi, word joiners, BOM, the tag characters that spell ASCII
invisibly), private use, surrogates and unassigned code points: nothing a reader sees."""
_VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    """``mcp__<server>__<tool>``, made of the characters tool names may hold, at most 64 long."""
    name = _UNSAFE_NAME.sub("_", f"mcp__{server}__{tool}")
    if len(name) <= MAX_NAME_CHARS:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME_CHARS - 9]}_{digest}"


def clean_description(text: str | None) -> str:
    """A description without control or invisible characters (newlines and tabs kept), at most 2 KiB of text.

    Invisible characters can carry instructions a person reviewing the tool never sees: Unicode tag
    characters (U+E0000 + ASCII) and variation selectors encode whole sentences that models read.
    """
    kept = "".join(c for c in text or "" if c in "\n\t" or unicodedata.category(c) not in _INVISIBLE_CATEGORIES)
    cleaned = _VARIATION_SELECTORS.sub("", kept).strip()
    return cut(cleaned, MAX_DESCRIPTION_CHARS)


def result_text(result: types.CallToolResult) -> str:
    """The text the model reads of a tool result: its text blocks, the others named."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        elif isinstance(block, types.ImageContent | types.AudioContent):
            parts.append(f"[{block.type}: {block.mime_type}]")
        elif isinstance(block, types.EmbeddedResource):
            resource = block.resource
            body = getattr(resource, "text", None)
            parts.append(body if isinstance(body, str) else f"[resource: {resource.uri}]")
        elif isinstance(block, types.ResourceLink):
            parts.append(f"[resource: {block.uri}]")
    if not parts and result.structured_content is not None:
        parts.append(str(result.structured_content))
    return "\n".join(parts) or "(no output)"


class McpTools:
    """The tools one server offers one activation (a ``ToolSet``)."""

    def __init__(
        self,
        *,
        server: str,
        session: ClientSession,
        tools: Sequence[types.Tool],
        call_timeout_s: float,
        redactor: Redactor,
        metrics: McpMetrics | None = None,
        gone: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.server = server
        self.family = f"mcp:{server}"
        self._session = session
        self._timeout_s = call_timeout_s
        self._redactor = redactor
        self._metrics = metrics
        self._gone = gone
        self._by_name = {tool_name(server, t.name): t for t in tools}
        self._specs = [
            ToolSpec(name, clean_description(t.description), _schema(t.input_schema))
            for name, t in self._by_name.items()
        ]

    def specs(self) -> Sequence[ToolSpec]:
        """The tools offered: the server's, as its grants allow and its pins accept."""
        return list(self._specs)

    @property
    def tools(self) -> list[str]:
        """The server's own names of the tools offered."""
        return [t.name for t in self._by_name.values()]

    async def call(self, name: str, args: Mapping[str, Any], *, scope: str = "") -> str:
        """Call the server's tool; what it says, or an error for the model."""
        tool = self._by_name.get(name)
        if tool is None:
            raise ToolInputError(f"{name!r} is not a tool of the MCP server {self.server!r}")
        started = time.perf_counter()
        outcome = "error"
        try:
            gone = self._gone()
            if gone is not None:
                outcome = "unavailable"
                raise ToolInputError(f"the MCP server {self.server!r} is not running: {gone}")
            try:
                async with asyncio.timeout(self._timeout_s):
                    result = await self._session.call_tool(tool.name, dict(args))
            except TimeoutError as exc:
                outcome = "timeout"
                raise ToolInputError(
                    f"the MCP server {self.server!r} did not answer within {self._timeout_s:g} s"
                ) from exc
            except MCPError as exc:
                raise ToolInputError(f"the MCP server {self.server!r} refused the call: {exc}") from exc
            except (ConnectionError, anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
                outcome = "unavailable"
                raise ToolInputError(f"the MCP server {self.server!r} stopped: {type(exc).__name__}") from exc
            text = result_text(result)
            if result.is_error:
                raise ToolInputError(text)
            outcome = "ok"
            return text
        finally:
            duration_s = time.perf_counter() - started
            if self._metrics is not None:
                self._metrics.calls.labels(server=self.server, tool=tool.name, outcome=outcome).inc()
                self._metrics.seconds.labels(server=self.server).observe(duration_s)
            log.info(
                "mcp.call",
                server=self.server,
                tool=tool.name,
                outcome=outcome,
                duration_ms=round(duration_s * 1000, 1),
                arguments=cut(str(self._redactor.deep(dict(args))), 500),
            )


def _schema(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """A tool's input schema as the LLM APIs take it: an object schema."""
    out = dict(schema or {})
    if out.get("type") != "object":
        out = {"type": "object", "properties": {}}
    out.setdefault("properties", {})
    return out
