"""The gateway's body limit (``GATEWAY_MAX_BODY_BYTES``): 413 before a route reads more.

An ASGI middleware around the whole app. A declared ``Content-Length`` over the limit is
answered at once, before the route (or the token check) runs; a chunked body is counted
as it is received, and the read that passes the limit ends the request with the same 413
(the route never sees the bytes). The answer is in the route's own provider's shape on
the LLM routes, so an SDK reads it as its provider's ``request_too_large``.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import error

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
"""The Anthropic Messages API's own request limit: whole conversations, images as base64, tool schemas."""


class _TooLarge(Exception):
    """The body passed the limit while it was read."""


class BodyLimit:
    """Wraps ``app``: no request body longer than ``max_bytes`` reaches it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared(scope) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:  # an answer is already under way: nothing better to do than cut it
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await too_large(str(scope.get("path", "")), self.max_bytes)(scope, receive, send)


def too_large(path: str, max_bytes: int) -> JSONResponse:
    """The 413, in the provider's shape on its route, else plain JSON."""
    problem = f"the request body is larger than the gateway accepts ({max_bytes} bytes, GATEWAY_MAX_BODY_BYTES)"
    if path == "/v1/messages":
        return error("anthropic", 413, "request_too_large", problem)
    if path == "/v1/chat/completions":
        return error("openai", 413, "request_too_large", problem)
    return JSONResponse({"error": "body_too_large", "limit_bytes": max_bytes, "problem": problem}, status_code=413)


def _declared(scope: Scope) -> int:
    """The request's ``Content-Length`` (0 when absent or not a number: then it is counted as read)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
