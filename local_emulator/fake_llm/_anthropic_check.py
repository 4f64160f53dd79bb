"""Validate a Messages API request the way the real API does, wording included where known.

The checks that catch protocol mistakes: roles alternate starting with ``user``; every
``tool_use`` in an assistant turn is answered by a ``tool_result`` in the very next user
turn, results first; every ``tool_result`` answers a ``tool_use`` of the turn just
before; ``tool_use`` names are among ``tools``; no empty text blocks; at most four
``cache_control`` breakpoints.
"""

from __future__ import annotations

import re
from typing import Any

from ._common import Conversation, conversation_key, dumps, invalid

KNOWN_FIELDS = frozenset(
    [
        "model",
        "messages",
        "max_tokens",
        "system",
        "tools",
        "tool_choice",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "metadata",
        "thinking",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
        "cache_control",
        "output_config",
        "inference_geo",
        "speed",
    ]
)
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_USER_BLOCKS = frozenset({"text", "image", "document", "tool_result", "search_result"})
_ASSISTANT_BLOCKS = frozenset({"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use"})
MAX_BREAKPOINTS = 4
_RESULT_BLOCKS = ("text", "image")
_TTLS = (None, "5m", "1h")
_TOOLS_REQUIRED = "Requests which include `tool_use` or `tool_result` blocks must define tools."
_NOT_EMPTY = "all messages must have non-empty content except for the optional final assistant message"


def validate(body: Any) -> Conversation:
    """The conversation in ``body``, or ``ApiError`` 400 naming the first problem."""
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    extra = sorted(set(body) - KNOWN_FIELDS)
    if extra:
        raise invalid(f"{extra[0]}: Extra inputs are not permitted")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model: Field required")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise invalid("max_tokens: Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise invalid("max_tokens: Input should be an integer greater than or equal to 1")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 1):
        raise invalid("temperature: Input should be a number between 0 and 1")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("stream: Input should be a valid boolean")
    system = _system_text(body.get("system"))
    tools = _tool_names(body.get("tools"))
    _check_tool_choice(body.get("tool_choice"), tools)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: at least one message is required")
    assistant_turns = _check_messages(messages, tools, tools_given="tools" in body)
    breakpoints = dumps(body).count('"cache_control":')
    if breakpoints > MAX_BREAKPOINTS:
        raise invalid(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {breakpoints}.")
    users = [m for m in messages if m["role"] == "user"]
    return Conversation(
        model=model,
        system=system,
        first_user_text=_text_of(messages[0]["content"]),
        last_user_text=_text_of(users[-1]["content"], results_too=True),
        assistant_turns=assistant_turns,
        tools=tools,
        stream=stream,
        key=conversation_key(body),
        input_chars=len(system) + len(dumps(messages)) + len(dumps(body.get("tools", []))),
    )


def _system_text(system: Any) -> str:
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    if not isinstance(system, list):
        raise invalid("system: Input should be a valid string or a list of text blocks")
    texts = []
    for n, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise invalid(f"system.{n}: Input should be a text block")
        if not block["text"]:
            raise invalid("system: text content blocks must be non-empty")
        _check_cache_control(block, f"system.{n}")
        texts.append(block["text"])
    return "\n".join(texts)


def _tool_names(tools: Any) -> tuple[str, ...]:
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise invalid("tools: Input should be a valid list")
    names: list[str] = []
    for n, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise invalid(f"tools.{n}.name: Field required")
        if tool.get("type") in (None, "custom"):
            if not _TOOL_NAME.match(tool["name"]):
                raise invalid(f"tools.{n}.name: String should match pattern '{_TOOL_NAME.pattern}'")
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise invalid(f"tools.{n}.custom.input_schema: Field required")
            if schema.get("type") != "object":
                raise invalid(f"tools.{n}.custom.input_schema.type: Input should be 'object'")
        _check_cache_control(tool, f"tools.{n}")
        if tool["name"] in names:
            raise invalid(f"tools: Tool names must be unique. Duplicate: {tool['name']}")
        names.append(tool["name"])
    return tuple(names)


def _check_tool_choice(choice: Any, tools: tuple[str, ...]) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise invalid("tool_choice: Input should be an object with type auto, any, tool or none")
    if choice["type"] == "tool" and choice.get("name") not in tools:
        raise invalid(f"tool_choice.name: tool {choice.get('name')!r} is not among tools")


def _check_cache_control(block: dict[str, Any], where: str) -> None:
    control = block.get("cache_control")
    if control is None:
        return
    if (
        not isinstance(control, dict)
        or control.get("type") != "ephemeral"
        or control.get("ttl") not in (None, "5m", "1h")
    ):
        raise invalid(
            f"{where}.cache_control: Input should be {{'type': 'ephemeral'}} with an optional ttl of 5m or 1h"
        )


def _check_messages(messages: list[Any], tools: tuple[str, ...], *, tools_given: bool) -> int:
    """Check roles, blocks and the tool-use protocol; return the number of assistant turns."""
    previous_uses: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        role = message["role"]
        if i == 0 and role != "user":
            raise invalid('messages: first message must use the "user" role')
        if i > 0 and role == messages[i - 1]["role"]:
            raise invalid('messages: roles must alternate between "user" and "assistant"')
        blocks = _blocks(message.get("content"), i, role, final=i == len(messages) - 1)
        if role == "assistant":
            previous_uses = _tool_uses(blocks, i, tools, tools_given=tools_given)
            if previous_uses and i == len(messages) - 1:
                raise _unanswered(i, previous_uses)
        else:
            _check_results(blocks, i, previous_uses, tools_given=tools_given)
            previous_uses = []
    return sum(1 for m in messages if m["role"] == "assistant")


def _tool_uses(blocks: list[dict[str, Any]], i: int, tools: tuple[str, ...], *, tools_given: bool) -> list[str]:
    uses = [b for b in blocks if b["type"] == "tool_use"]
    if uses and not tools_given:
        raise invalid(_TOOLS_REQUIRED)
    for b in uses:
        if b["name"] not in tools:
            raise invalid(f"messages.{i}: tool_use name {b['name']!r} is not among the tools provided")
    return [b["id"] for b in uses]


def _check_results(blocks: list[dict[str, Any]], i: int, previous_uses: list[str], *, tools_given: bool) -> None:
    answered: list[str] = []
    seen_other = False
    for j, b in enumerate(blocks):
        if b["type"] != "tool_result":
            seen_other = True
            continue
        if not tools_given:
            raise invalid(_TOOLS_REQUIRED)
        if seen_other:
            raise invalid(f"messages.{i}.content.{j}: `tool_result` blocks must come before any other content")
        if b["tool_use_id"] not in previous_uses or b["tool_use_id"] in answered:
            raise invalid(
                f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{b['tool_use_id']}. Each `tool_result` block must have a corresponding `tool_use` block "
                "in the previous message."
            )
        answered.append(b["tool_use_id"])
    missing = [u for u in previous_uses if u not in answered]
    if missing:
        raise _unanswered(i - 1, missing)


def _unanswered(i: int, ids: list[str]) -> Exception:
    return invalid(
        f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
        f"{', '.join(ids)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    )


def _blocks(content: Any, i: int, role: str, *, final: bool) -> list[dict[str, Any]]:
    if isinstance(content, str):
        if not content and not (final and role == "assistant"):
            raise invalid(f"messages.{i}: {_NOT_EMPTY}")
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise invalid(f"messages.{i}.content: Input should be a valid string or list of content blocks")
    if not content and not (final and role == "assistant"):
        raise invalid(f"messages.{i}: {_NOT_EMPTY}")
    allowed = _USER_BLOCKS if role == "user" else _ASSISTANT_BLOCKS
    for j, block in enumerate(content):
        where = f"messages.{i}.content.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(kind, str) or kind not in allowed:  # a list or an object is no tag (and unhashable)
            raise invalid(f"{where}.type: Input tag {kind!r} is not allowed in a {role} message")
        _check_block(block, where)
        _check_cache_control(block, where)
    return content


def _check_block(block: dict[str, Any], where: str) -> None:
    kind = block["type"]
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise invalid(f"{where}.text: Field required")
        if not block["text"]:
            raise invalid("messages: text content blocks must be non-empty")
    elif kind == "tool_use":
        if not isinstance(block.get("id"), str) or not _TOOL_ID.match(block["id"]):
            raise invalid(f"{where}.id: String should match pattern '{_TOOL_ID.pattern}'")
        if not isinstance(block.get("name"), str) or not isinstance(block.get("input"), dict):
            raise invalid(f"{where}: tool_use blocks need a name and an input object")
    elif kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str):
            raise invalid(f"{where}.tool_use_id: Field required")
        inner = block.get("content")
        if inner is not None and not isinstance(inner, str | list):
            raise invalid(f"{where}.content: Input should be a valid string or list of content blocks")
        if isinstance(inner, list) and any(
            not isinstance(b, dict) or b.get("type") not in ("text", "image") for b in inner
        ):
            raise invalid(f"{where}.content: tool_result content blocks must be text or image")
        if not isinstance(block.get("is_error", False), bool):
            raise invalid(f"{where}.is_error: Input should be a valid boolean")


def _text_of(content: Any, *, results_too: bool = False) -> str:
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for block in content:
        if block["type"] == "text":
            texts.append(block["text"])
        elif block["type"] == "tool_result" and results_too:
            inner = block.get("content") or ""
            texts.append(inner if isinstance(inner, str) else " ".join(b.get("text", "") for b in inner))
    return "\n".join(texts)
