"""``POST /v1/messages``: the Anthropic dialect (auth, errors, JSON and SSE answers)."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web

from . import _anthropic_check
from ._common import ApiError, Conversation, Turn, dumps, estimate_tokens, invalid, pieces
from ._core import FakeLLM
from ._scripts import Fail

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "not_found": "not_found_error",
    "rate_limit": "rate_limit_error",
    "spend_limit": "rate_limit_error",
    "overloaded": "overloaded_error",
    "server_error": "api_error",
}
_DEFAULTS: dict[str, tuple[int, str]] = {
    "rate_limit": (429, "Number of request tokens has exceeded your per-minute rate limit"),
    "spend_limit": (
        429,
        "You have reached your specified API usage limits (spend limit). You will regain access when it resets.",
    ),
    "overloaded": (529, "Overloaded"),
    "server_error": (500, "Internal server error"),
    "invalid_request": (400, "fake llm: scripted invalid request"),
    "authentication": (401, "invalid x-api-key"),
}


class AnthropicDialect:
    """The Messages API: ``x-api-key`` (or a bearer token) and ``anthropic-version``, its error bodies, SSE."""

    name = "anthropic"

    def authenticate(self, headers: Mapping[str, str], core: FakeLLM) -> None:
        # anthropic 2.x sends the key as a bearer token; older clients and curl use x-api-key.
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        key = headers.get("x-api-key") or (bearer.strip() if scheme.lower() == "bearer" else "")
        if not key:
            raise ApiError(401, "authentication", "x-api-key header is required")
        if not core.accepts(key):
            raise ApiError(401, "authentication", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            raise invalid("anthropic-version: header is required")

    def validate(self, body: Any) -> Conversation:
        return _anthropic_check.validate(body)

    def fail_error(self, fail: Fail) -> ApiError:
        status, message = _DEFAULTS[fail.kind]
        headers: dict[str, str] = {}
        if fail.retry_after_s is not None:
            headers["retry-after"] = str(math.ceil(fail.retry_after_s))
            headers["retry-after-ms"] = str(round(fail.retry_after_s * 1000))
        details = {"error_code": "enforced_spend_limit_reached"} if fail.kind == "spend_limit" else None
        return ApiError(fail.status or status, fail.kind, fail.message or message, headers=headers, details=details)

    def error_response(self, err: ApiError) -> web.Response:
        request_id = "req_" + uuid.uuid4().hex[:24]
        error: dict[str, Any] = {"type": _TYPES.get(err.kind, "api_error"), "message": err.message}
        if err.details:
            error["details"] = err.details
        return web.json_response(
            {"type": "error", "error": error, "request_id": request_id},
            status=err.status,
            headers={"request-id": request_id, **err.headers},
            dumps=dumps,
        )

    def message(self, conv: Conversation, turn: Turn) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
        content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.input} for c in turn.calls]
        return {
            "id": "msg_" + turn.id,
            "type": "message",
            "role": "assistant",
            "model": conv.model,
            "content": content,
            "stop_reason": turn.stop,
            "stop_sequence": None,
            "usage": turn.usage.model_dump(),
        }

    async def respond(self, request: web.Request, conv: Conversation, turn: Turn) -> web.StreamResponse:
        if not conv.stream:
            return web.json_response(self.message(conv, turn), headers={"request-id": "req_" + turn.id}, dumps=dumps)
        response = sse_response("req_" + turn.id)
        await response.prepare(request)
        for chunk in self._events(conv, turn):
            await response.write(chunk)
            if turn.stream_delay_s:
                await asyncio.sleep(turn.stream_delay_s)
        await response.write_eof()
        return response

    def stream_head(self, conv: Conversation, turn_id: str) -> bytes:
        """``message_start`` and a ping: what a stream sends before anything can go wrong.

        Its usage counts the request's input, as the API's does: a stream cut after it has
        been billed for that much.
        """
        start: dict[str, Any] = {
            "id": "msg_" + turn_id,
            "type": "message",
            "role": "assistant",
            "model": conv.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": estimate_tokens(conv.input_chars), "output_tokens": 1},
        }
        return event("message_start", {"type": "message_start", "message": start}) + event("ping", {"type": "ping"})

    def stream_error(self, err: ApiError) -> bytes:
        error = {"type": _TYPES.get(err.kind, "api_error"), "message": err.message}
        return event("error", {"type": "error", "error": error})

    def _events(self, conv: Conversation, turn: Turn) -> Iterator[bytes]:
        start = self.message(conv, turn) | {"content": [], "stop_reason": None}
        start["usage"] = turn.usage.model_dump() | {"output_tokens": 1}
        yield event("message_start", {"type": "message_start", "message": start})
        yield event("ping", {"type": "ping"})
        index = 0
        if turn.text:
            yield _block_start(index, {"type": "text", "text": ""})
            for piece in pieces(turn.text, 24):
                yield _delta(index, {"type": "text_delta", "text": piece})
            yield event("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1
        for call in turn.calls:
            yield _block_start(index, {"type": "tool_use", "id": call.id, "name": call.name, "input": {}})
            for piece in ["", *pieces(dumps(call.input), 16)]:
                yield _delta(index, {"type": "input_json_delta", "partial_json": piece})
            yield event("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1
        delta = {"stop_reason": turn.stop, "stop_sequence": None}
        usage = {"output_tokens": turn.usage.output_tokens}
        yield event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        yield event("message_stop", {"type": "message_stop"})


def sse_response(request_id: str) -> web.StreamResponse:
    return web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "request-id": request_id,
        }
    )


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {dumps(data)}\n\n".encode()


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    return event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
