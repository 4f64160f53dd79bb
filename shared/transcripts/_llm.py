"""The one message shape (``shared.llm``) as transcript JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from shared.llm import Message, Part, Text, ToolCall, ToolResult, ToolSpec, Usage


def part_json(part: Part) -> dict[str, Any]:
    """One part: ``{"type": "text"|"tool_call"|"tool_result", ...}``."""
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, ToolCall):
        return {"type": "tool_call", "id": part.id, "name": part.name, "input": part.input}
    if isinstance(part, ToolResult):
        return {"type": "tool_result", "call_id": part.call_id, "content": part.content, "is_error": part.is_error}
    raise TypeError(f"not a message part: {type(part).__name__}")


def messages_json(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages as ``[{"role", "parts": [...]}, ...]``."""
    return [{"role": m.role, "parts": [part_json(p) for p in m.parts]} for m in messages]


def tools_json(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """Tool definitions as the model was given them."""
    return [{"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools]


def usage_json(usage: Usage) -> dict[str, int]:
    """The four token kinds."""
    return asdict(usage)
