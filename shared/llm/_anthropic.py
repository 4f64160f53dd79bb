"""The Anthropic Messages API through the ``anthropic`` SDK.

Tool use follows the API's protocol exactly: an assistant turn carries ``tool_use``
blocks; the next user turn answers every one with a ``tool_result`` block, results
first. A call whose ``max_tokens`` is above ``STREAM_ABOVE_TOKENS`` streams
(``messages.stream`` -> final message), because the SDK refuses a large ``max_tokens``
without streaming; a smaller one is a plain request, which costs the runner about half
the CPU of parsing a stream. The SDK speaks HTTP through aiohttp (its
``DefaultAioHttpClient``): per call a third of the CPU of its default httpx stack. The
SDK's own retries are off (``RetryingProvider`` owns the policy). The system prompt and
the tool list carry a cache breakpoint, so an agent loop pays full price for them once
per cache lifetime.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import anthropic
import httpx2
import structlog
from anthropic._data import DEPRECATED_MODELS  # the one module that exports it (private: the lock pins the SDK)
from anthropic.lib.streaming import AsyncMessageStreamManager
from anthropic.types import Message as SDKMessage
from anthropic.types import Usage as SDKUsage

from shared import tracing
from shared.errors import LLMRejected, LLMUnavailable

from ._errors import connection_error, interrupted, status_error
from ._types import Completion, Message, Part, StopReason, Text, ToolCall, ToolResult, ToolSpec, Usage

log = structlog.get_logger(__name__)

PROVIDER = "anthropic"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
STREAM_ABOVE_TOKENS = 8192
"""The largest ``max_tokens`` the SDK accepts without streaming for every model it knows."""
_CACHE = {"type": "ephemeral"}
_STOPS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "pause_turn": "end_turn",
    "refusal": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
}
# An error event inside a 200 stream has no status of its own; its type tells what it was.
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class AnthropicProvider:
    """Claude models through ``anthropic.AsyncAnthropic``.

    ``base_url`` is the API's address (the host root, e.g. a fake on loopback); it is always
    passed to the SDK, so ``ANTHROPIC_BASE_URL`` in the environment changes nothing.
    ``timeout_s`` bounds each wait for the network (connecting, or the next bytes).
    """

    def __init__(
        self, *, api_key: str, base_url: str = ANTHROPIC_BASE_URL, timeout_s: float = 120.0, cache_prompt: bool = True
    ) -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout_s,
            max_retries=0,
            http_client=anthropic.DefaultAioHttpClient(),
        )
        self._cache_prompt = cache_prompt
        self._reported: set[str] = set()

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
        """Ask Claude for the next assistant turn (one attempt; see ``RetryingProvider``)."""
        params: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": _map_messages(messages)}
        if system:
            block: dict[str, Any] = {"type": "text", "text": system}
            if self._cache_prompt:
                block["cache_control"] = _CACHE
            params["system"] = [block]
        if tools:
            params["tools"] = _map_tools(tools, cache=self._cache_prompt)
        if temperature is not None:
            # The SDK no longer has the argument (newer models refuse non-default sampling), but
            # older models honour it: send it as the agent asked and let the API judge.
            params["extra_body"] = {"temperature": temperature}
        spent: list[Usage] = []  # what a stream that breaks off had already been billed
        try:
            final = await self._call(params, spent)
        except (anthropic.AnthropicError, httpx2.HTTPError, ValueError) as exc:
            error = _error_of(exc)
            if spent and isinstance(error, LLMUnavailable):
                error = interrupted(error, spent[0])
            raise error from exc
        return Completion(
            parts=_map_content(final),
            stop=_STOPS.get(final.stop_reason or "end_turn", "end_turn"),
            usage=_map_usage(final.usage),
            model=final.model,
        )

    async def _call(self, params: dict[str, Any], spent: list[Usage]) -> SDKMessage:
        """The assistant's message: streamed when ``max_tokens`` is large, else one plain request.

        A stream that fails after its ``message_start`` leaves the usage counted so far in ``spent``.
        """
        if trace := tracing.headers():
            params = {**params, "extra_headers": trace}
        # The SDK warns about deprecated model names on every call; say it once, in our logs.
        # Nothing is awaited while warnings are caught, so no other task's can be caught by mistake.
        # A plain request warns only once awaited, where catching is not safe: a deprecated model
        # (the only cause of the SDK's warning for our calls) streams.
        if params["max_tokens"] <= STREAM_ABOVE_TOKENS and params["model"] not in DEPRECATED_MODELS:
            message: SDKMessage = await self._client.messages.create(**params)
            return message
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            manager: AsyncMessageStreamManager[None] = self._client.messages.stream(**params)
        self._report(params["model"], caught)
        async with manager as stream:
            try:
                return await stream.get_final_message()
            except BaseException:
                # Without a message_start yet the SDK has no snapshot, and nothing was billed.
                with contextlib.suppress(AssertionError, AttributeError, RuntimeError):
                    spent.append(_map_usage(stream.current_message_snapshot.usage))
                raise

    def _report(self, model: str, caught: list[warnings.WarningMessage]) -> None:
        for warning in caught:
            if str(warning.message) not in self._reported:
                self._reported.add(str(warning.message))
                log.warning("llm.anthropic.sdk_warning", model=model, warning=str(warning.message))

    @property
    def base_url(self) -> str:
        """The address calls go to."""
        return str(self._client.base_url)

    async def aclose(self) -> None:
        """Close the SDK client and its connections."""
        await self._client.close()


def _error_of(exc: Exception) -> LLMUnavailable | LLMRejected:
    """The error tree's error for what the SDK (or httpx2 under it, mid-stream) raised."""
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code if exc.status_code >= 400 else _STATUS_OF_TYPE.get(exc.type or "", 500)
        return status_error(
            PROVIDER,
            status=status,
            message=exc.api_message or exc.message,
            headers=exc.response.headers,
            code=exc.error_code,
            error_type=exc.type,
        )
    if isinstance(exc, anthropic.APIConnectionError):
        return connection_error(PROVIDER, exc.message)
    # The stream broke off (httpx2 errors escape the SDK mid-stream) or carried tool input
    # that is not JSON (a ValueError from the SDK's parser): a fresh attempt may fare better.
    return connection_error(PROVIDER, f"{type(exc).__name__}: {exc}")


def _map_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    mapped: list[dict[str, Any]] = []
    for message in messages:
        ordered: list[Part] = list(message.parts)
        if message.role == "user":
            # The API wants every tool_result before any other content of the turn (a stable sort).
            ordered.sort(key=lambda part: not isinstance(part, ToolResult))
        content = [_map_part(part) for part in ordered if not (isinstance(part, Text) and not part.text)]
        mapped.append({"role": message.role, "content": content})
    return mapped


def _map_part(part: Part) -> dict[str, Any]:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.input}
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.call_id, "content": part.content}
    if part.is_error:
        block["is_error"] = True
    return block


def _map_tools(tools: Sequence[ToolSpec], *, cache: bool) -> list[dict[str, Any]]:
    mapped: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools
    ]
    if cache:
        mapped[-1]["cache_control"] = _CACHE
    return mapped


def _map_content(message: SDKMessage) -> tuple[Part, ...]:
    parts: list[Part] = []
    for block in message.content:
        if block.type == "text" and block.text:
            parts.append(Text(block.text))
        elif block.type == "tool_use":
            if not isinstance(block.input, dict):
                raise LLMUnavailable(f"{PROVIDER} returned tool input that is not an object for {block.name!r}")
            parts.append(ToolCall(id=block.id, name=block.name, input=dict(block.input)))
    return tuple(parts)


def anthropic_usage(raw: Mapping[str, Any]) -> Usage:
    """The usage of a Messages API response (its ``usage`` object, as JSON), in the one shape."""
    return _map_usage(SDKUsage.model_validate({"input_tokens": 0, "output_tokens": 0, **raw}))


def _map_usage(usage: SDKUsage) -> Usage:
    # Anthropic's input_tokens already leave out the cached part: the four kinds are disjoint.
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens or 0,
        cache_read_tokens=usage.cache_read_input_tokens or 0,
    )
