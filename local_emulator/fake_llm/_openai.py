"""``POST /v1/chat/completions``: the OpenAI-compatible dialect (auth, errors, JSON and SSE answers)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web

from . import _openai_check
from ._anthropic import SSE_HEADERS
from ._common import ApiError, Conversation, Turn, dumps, pieces
from ._core import FakeLLM
from ._scripts import Fail

_FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}
# kind -> (status, message, type, code)
_DEFAULTS: dict[str, tuple[int, str, str, str | None]] = {
    "rate_limit": (429, "Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"),
    "spend_limit": (
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        "insufficient_quota",
    ),
    "overloaded": (503, "The engine is currently overloaded, please try again later.", "server_error", None),
    "server_error": (500, "The server had an error while processing your request.", "server_error", None),
    "invalid_request": (400, "fake llm: scripted invalid request", "invalid_request_error", None),
    "authentication": (401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
}
_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "invalid_request_error",
    "not_found": "invalid_request_error",
}


class OpenAIDialect:
    """Chat completions: ``Authorization: Bearer``, OpenAI error bodies, ``data:`` chunks and ``[DONE]``."""

    name = "openai"

    def authenticate(self, headers: Mapping[str, str], core: FakeLLM) -> None:
        auth = headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "authentication", "You didn't provide an API key.", code="missing_api_key")
        if not core.accepts(key.strip()):
            raise ApiError(401, "authentication", "Incorrect API key provided.", code="invalid_api_key")

    def validate(self, body: Any) -> Conversation:
        return _openai_check.validate(body)

    def fail_error(self, fail: Fail) -> ApiError:
        status, message, kind_type, code = _DEFAULTS[fail.kind]
        headers: dict[str, str] = {}
        if fail.retry_after_s is not None:
            headers["retry-after"] = str(math.ceil(fail.retry_after_s))
            headers["retry-after-ms"] = str(round(fail.retry_after_s * 1000))
        return ApiError(
            fail.status or status,
            fail.kind,
            fail.message or message,
            headers=headers,
            code=code,
            details={"type": kind_type},
        )

    def error_body(self, err: ApiError) -> dict[str, Any]:
        kind_type = (err.details or {}).get("type") or _TYPES.get(err.kind, "server_error")
        return {"error": {"message": err.message, "type": kind_type, "param": None, "code": err.code}}

    def error_response(self, err: ApiError) -> web.Response:
        return web.json_response(
            self.error_body(err), status=err.status, headers={"x-request-id": "req_fake", **err.headers}, dumps=dumps
        )

    def completion(self, conv: Conversation, turn: Turn) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": turn.text or None, "refusal": None}
        if turn.calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": dumps(c.input)}}
                for c in turn.calls
            ]
        return {
            "id": "chatcmpl-" + turn.id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": conv.model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "finish_reason": _FINISH[turn.stop], "logprobs": None}],
            "usage": _usage(turn),
        }

    async def respond(self, request: web.Request, conv: Conversation, turn: Turn) -> web.StreamResponse:
        if not conv.stream:
            return web.json_response(
                self.completion(conv, turn), headers={"x-request-id": "req_" + turn.id}, dumps=dumps
            )
        response = sse_response()
        await response.prepare(request)
        for chunk in self._chunks(conv, turn):
            await response.write(chunk)
            if turn.stream_delay_s:
                await asyncio.sleep(turn.stream_delay_s)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def stream_head(self, conv: Conversation, turn_id: str) -> bytes:
        return _data(_chunk(conv, turn_id, {"role": "assistant", "content": ""}, None))

    def stream_error(self, err: ApiError) -> bytes:
        return _data(self.error_body(err))

    def _chunks(self, conv: Conversation, turn: Turn) -> Iterator[bytes]:
        yield self.stream_head(conv, turn.id)
        for piece in pieces(turn.text, 24) if turn.text else []:
            yield _data(_chunk(conv, turn.id, {"content": piece}, None))
        for n, call in enumerate(turn.calls):
            head = {"index": n, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            yield _data(_chunk(conv, turn.id, {"tool_calls": [head]}, None))
            for piece in pieces(dumps(call.input), 16):
                more = {"index": n, "function": {"arguments": piece}}
                yield _data(_chunk(conv, turn.id, {"tool_calls": [more]}, None))
        yield _data(_chunk(conv, turn.id, {}, _FINISH[turn.stop]))
        if conv.include_usage:
            last = _chunk(conv, turn.id, {}, None) | {"choices": [], "usage": _usage(turn)}
            yield _data(last)


def _chunk(conv: Conversation, turn_id: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": "chatcmpl-" + turn_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": conv.model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    if conv.include_usage:
        chunk["usage"] = None
    return chunk


def _usage(turn: Turn) -> dict[str, Any]:
    u = turn.usage
    # OpenAI's prompt_tokens include the cached ones; it has no separate cache-write count.
    prompt = u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cache_read_input_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def sse_response() -> web.StreamResponse:
    return web.StreamResponse(headers=SSE_HEADERS)


def _data(obj: dict[str, Any]) -> bytes:
    return f"data: {dumps(obj)}\n\n".encode()
