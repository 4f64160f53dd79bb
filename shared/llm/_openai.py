"""Any OpenAI-compatible chat-completions endpoint through the ``openai`` SDK.

OpenAI itself, a local server (vLLM, Ollama, llama.cpp), a gateway or Gemini's
compatible endpoint are all this one adapter with a different ``base_url``. Tool use
follows the protocol exactly: the assistant message carries ``tool_calls``; each
result is a ``role: tool`` message with its ``tool_call_id``, directly after it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx2
import openai
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion

from shared import tracing
from shared.errors import LLMUnavailable

from ._errors import connection_error, status_error
from ._types import Completion, Message, Part, StopReason, Text, ToolCall, ToolResult, ToolSpec, Usage

PROVIDER = "openai-compatible"
_STOPS: dict[str, StopReason] = {
    "stop": "end_turn",
    "content_filter": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
}


class OpenAICompatibleProvider:
    """Chat models behind an OpenAI-compatible ``/chat/completions``.

    ``base_url`` ends in ``/v1`` (or the server's equivalent). ``max_tokens_param`` names
    the limit field: OpenAI's own models want ``max_completion_tokens``, many compatible
    servers know only ``max_tokens``.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout_s: float = 120.0,
        max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens",
    ) -> None:
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout_s,
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(),  # a third of the CPU of the default httpx stack
        )
        self._max_tokens_param = max_tokens_param

    async def complete(
        self,
        *,
        model: str,
        system: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        max_tokens: int,
        temperature: float | None = None,
    ) -> Completion:
        """Ask the endpoint for the next assistant turn (one attempt; see ``RetryingProvider``)."""
        params: dict[str, Any] = {"model": model, "messages": _map_messages(system, messages)}
        params[self._max_tokens_param] = max_tokens
        if tools:
            params["tools"] = _map_tools(tools)
        if temperature is not None:
            params["temperature"] = temperature
        if trace := tracing.headers():
            params["extra_headers"] = trace
        try:
            response = await self._client.chat.completions.create(**params)
        except openai.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            message = body.get("message") if isinstance(body.get("message"), str) else exc.message
            raise status_error(
                PROVIDER,
                status=exc.status_code,
                message=str(message),
                headers=exc.response.headers,
                code=exc.code,
                error_type=exc.type,
            ) from exc
        except openai.APIConnectionError as exc:
            raise connection_error(PROVIDER, exc.message) from exc
        except (openai.OpenAIError, httpx2.HTTPError, ValueError) as exc:
            raise connection_error(PROVIDER, f"{type(exc).__name__}: {exc}") from exc
        return _map_response(response)

    @property
    def base_url(self) -> str:
        """The address calls go to."""
        return str(self._client.base_url)

    async def aclose(self) -> None:
        """Close the SDK client and its connections."""
        await self._client.close()


def _map_messages(system: str, messages: Sequence[Message]) -> list[dict[str, Any]]:
    mapped: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        if message.role == "user":
            # Tool results answer the previous assistant message, so they come straight after it.
            for part in message.parts:
                if isinstance(part, ToolResult):
                    content = f"ERROR: {part.content}" if part.is_error else part.content
                    mapped.append({"role": "tool", "tool_call_id": part.call_id, "content": content})
            if message.text:
                mapped.append({"role": "user", "content": message.text})
        else:
            entry: dict[str, Any] = {"role": "assistant", "content": message.text or None}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.input)}}
                    for c in message.tool_calls
                ]
            mapped.append(entry)
    return mapped


def _map_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.input_schema}}
        for t in tools
    ]


def _map_response(response: ChatCompletion) -> Completion:
    if not response.choices:
        raise LLMUnavailable(f"{PROVIDER} returned no choices")
    choice = response.choices[0]
    parts: list[Part] = []
    if choice.message.content:
        parts.append(Text(choice.message.content))
    for call in choice.message.tool_calls or []:
        if call.type != "function":
            continue
        try:
            arguments = json.loads(call.function.arguments) if call.function.arguments else {}
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            # A re-sample usually fixes malformed arguments, so this counts as transient.
            raise LLMUnavailable(f"{PROVIDER} returned arguments that are not a JSON object for {call.function.name!r}")
        parts.append(ToolCall(id=call.id, name=call.function.name, input=arguments))
    stop = _STOPS.get(str(choice.finish_reason), "end_turn")  # compatible servers may send null
    if stop == "end_turn" and any(isinstance(p, ToolCall) for p in parts):
        stop = "tool_use"  # some compatible servers say "stop" even when they call tools
    return Completion(parts=tuple(parts), stop=stop, usage=_map_usage(response.usage), model=response.model)


def openai_usage(raw: Mapping[str, Any]) -> Usage:
    """The usage of a chat completion (its ``usage`` object, as JSON), in the one shape."""
    return _map_usage(
        CompletionUsage.model_validate({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, **raw})
    )


def _map_usage(usage: CompletionUsage | None) -> Usage:
    if usage is None:
        return Usage()
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens if details else None) or 0
    written = (details.cache_write_tokens if details else None) or 0
    # prompt_tokens includes the cached (and, where reported, cache-written) tokens.
    return Usage(
        input_tokens=max(usage.prompt_tokens - cached - written, 0),
        output_tokens=usage.completion_tokens,
        cache_write_tokens=written,
        cache_read_tokens=cached,
    )
