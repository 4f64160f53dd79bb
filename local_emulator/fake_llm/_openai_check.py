"""Validate a chat-completions request the way OpenAI does, wording included where known.

The checks that catch protocol mistakes: a ``role: tool`` message must answer a
``tool_calls`` entry of the assistant message just before it (only tool messages in
between), and every tool call must be answered before the next non-tool message.
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
        "max_completion_tokens",
        "temperature",
        "top_p",
        "n",
        "stream",
        "stream_options",
        "stop",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "seed",
        "response_format",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "metadata",
        "store",
        "reasoning_effort",
        "service_tier",
        "modalities",
        "prediction",
        "audio",
        "web_search_options",
        "verbosity",
        "prompt_cache_key",
        "safety_identifier",
    ]
)
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NOT_A_RESPONSE = (
    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'."
)


def validate(body: Any) -> Conversation:
    """The conversation in ``body``, or ``ApiError`` 400 naming the first problem."""
    if not isinstance(body, dict):
        raise invalid("We could not parse the JSON body of your request.")
    extra = sorted(set(body) - KNOWN_FIELDS)
    if extra:
        raise invalid(f"Unrecognized request argument supplied: {extra[0]}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("you must provide a model parameter")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise invalid(f"Invalid '{name}': integer below minimum value. Expected a value >= 1.")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 2):
        raise invalid("Invalid 'temperature': expected a number between 0 and 2.")
    if body.get("n", 1) != 1:
        raise invalid("fake llm: only n=1 is supported")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("Invalid type for 'stream': expected a boolean.")
    options = body.get("stream_options")
    if options is not None and not stream:
        raise invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.")
    tools = _tool_names(body.get("tools"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("Invalid 'messages': empty array. Expected an array with minimum length 1.")
    _check_messages(messages)
    system = "\n".join(_text(m.get("content")) for m in messages if m["role"] in ("system", "developer"))
    users = [m for m in messages if m["role"] == "user"]
    last = messages[-1]
    return Conversation(
        model=model,
        system=system,
        first_user_text=_text(users[0].get("content")) if users else "",
        last_user_text=_text(last.get("content")) if last["role"] in ("user", "tool") else "",
        assistant_turns=sum(1 for m in messages if m["role"] == "assistant"),
        tools=tools,
        stream=stream,
        key=conversation_key(body),
        input_chars=len(dumps(messages)) + len(dumps(body.get("tools", []))),
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
    )


def _tool_names(tools: Any) -> tuple[str, ...]:
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise invalid("Invalid type for 'tools': expected an array.")
    names: list[str] = []
    for n, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            raise invalid(f"Invalid value for 'tools[{n}]': expected a function tool.")
        name = function.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise invalid(f"Invalid 'tools[{n}].function.name': string does not match pattern '{_TOOL_NAME.pattern}'.")
        if "parameters" in function and not isinstance(function["parameters"], dict):
            raise invalid(f"Invalid type for 'tools[{n}].function.parameters': expected an object.")
        names.append(name)
    return tuple(names)


def _check_messages(messages: list[Any]) -> None:
    calls: list[str] = []  # the tool_call ids of the assistant message the current tool messages answer
    pending: list[str] = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in _ROLES:  # a list or an object is no role (and unhashable)
            raise invalid(f"Invalid value for 'messages[{i}].role': expected one of {', '.join(sorted(_ROLES))}.")
        role = message["role"]
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise invalid(f"Missing required parameter: 'messages[{i}].tool_call_id'.")
            if call_id not in calls:
                raise invalid(_NOT_A_RESPONSE)
            if call_id in pending:
                pending.remove(call_id)
            _check_content(message.get("content"), i, required=True)
            continue
        if pending:
            raise _unanswered(pending)
        calls = []
        if role == "assistant":
            calls = _tool_calls(message.get("tool_calls"), i)
            pending = list(calls)
            _check_content(message.get("content"), i, required=not calls)
        else:
            _check_content(message.get("content"), i, required=True)
    if pending:
        raise _unanswered(pending)


def _unanswered(ids: list[str]) -> Exception:
    return invalid(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(ids)}"
    )


def _tool_calls(tool_calls: Any, i: int) -> list[str]:
    if tool_calls is None:
        return []
    if not isinstance(tool_calls, list) or not tool_calls:
        raise invalid(f"Invalid 'messages[{i}].tool_calls': empty array. Expected an array with minimum length 1.")
    ids = []
    for n, call in enumerate(tool_calls):
        where = f"messages[{i}].tool_calls[{n}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(call.get("id"), str) or call.get("type") != "function":
            raise invalid(f"Missing required parameter: '{where}.id' (with type 'function').")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise invalid(f"Missing required parameter: '{where}.function.name'.")
        if not isinstance(function.get("arguments"), str):
            raise invalid(f"Invalid type for '{where}.function.arguments': expected a string.")
        ids.append(call["id"])
    return ids


def _check_content(content: Any, i: int, *, required: bool) -> None:
    if content is None:
        if required:
            raise invalid(f"Invalid value for 'messages[{i}].content': expected a string, got null.")
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list) or any(not isinstance(p, dict) or "type" not in p for p in content):
        raise invalid(f"Invalid type for 'messages[{i}].content': expected a string or an array of content parts.")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = (p.get("text") for p in content if p.get("type") == "text")
        return "\n".join(t for t in texts if isinstance(t, str))  # a text part whose text is no string says nothing
    return ""
