"""What wraps every ``/api/v1`` request: faults, rate limits, the request log, JSON errors.

Order: count the request (``X-RateLimit-*`` on every answer) → apply an injected fault
(latency, status, dropped connection; ``after`` faults once the handler has run) →
refuse past the per-key limit when limits are enforced → the handler. ``Reject`` and
aiohttp's own HTTP errors become JSON in the mock's dialect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from . import _render as render
from ._auth import AGENT_KEY, IDEMPOTENCY_HEADER, Reject, bearer, respond
from ._model import AuthKind, Fault, RequestRecord
from ._state import MockHub

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_PREFIX = "/api/v1/"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def error_response(hub: MockHub, status: int, detail: str, *, code: str, hint: str | None = None) -> web.Response:
    return respond(render.error(detail, hub.dialect, code=code, hint=hint), status=status)


def _rejected(hub: MockHub, exc: Reject) -> web.Response:
    response = error_response(hub, exc.status, exc.detail, code=exc.code, hint=exc.hint)
    response.headers.update(exc.headers)
    return response


def _http_error(hub: MockHub, exc: web.HTTPException) -> web.Response:
    code = "not_found" if exc.status == 404 else "error"
    return error_response(hub, exc.status, exc.reason, code=code)


def _fault_response(hub: MockHub, request: web.Request, fault: Fault) -> web.Response | None:
    """The fault's answer, or ``None`` after dropping the connection."""
    if fault.drop:
        if request.transport is not None:
            request.transport.close()
        return None
    assert fault.status is not None
    if fault.body is not None:
        response = respond(fault.body, status=fault.status)
    else:
        response = error_response(hub, fault.status, f"injected fault {fault.status}", code="injected")
    if fault.retry_after is not None:
        response.headers["Retry-After"] = fault.retry_after
    return response


def _auth_kind(hub: MockHub, token: str | None) -> AuthKind:
    if token is None:
        return None
    if token == hub.api_key:
        return "service"
    return "agent" if hub.agent_by_key(token) is not None else "invalid"


def api_middleware(hub: MockHub) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        method, path = request.method, request.path
        if not path.startswith(API_PREFIX):
            try:
                return await handler(request)
            except Reject as exc:
                return _rejected(hub, exc)
        token = bearer(request)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if method not in _READS and not key:
            hub.writes_without_idempotency_key.append((method, path))
        at = hub.clock()
        response: web.StreamResponse | None = None
        try:
            response = await _answer(hub, request, handler, token)
        finally:
            hub.requests.append(
                RequestRecord(
                    method=method,
                    path=path,
                    query=dict(request.query),
                    status=response.status if response is not None else None,
                    auth=_auth_kind(hub, token),
                    agent_id=request.get(AGENT_KEY),
                    idempotency_key=key,
                    at=at,
                    traceparent=request.headers.get("traceparent"),
                )
            )
        if response is None:  # dropped: aiohttp writes nothing to a closed transport
            return web.Response(status=500)
        return response

    return middleware


async def _answer(hub: MockHub, request: web.Request, handler: Handler, token: str | None) -> web.StreamResponse | None:
    window = hub.limiter.request(token or "anonymous")
    fault = hub.take_fault(request.method, request.path)
    if fault is not None and fault.latency_s > 0:
        await asyncio.sleep(fault.latency_s)
    answer: web.StreamResponse | None
    if fault is not None and not fault.after and (fault.drop or fault.status is not None):
        answer = _fault_response(hub, request, fault)
    elif hub.enforce_limits and window.retry_after_s is not None:
        answer = error_response(hub, 429, "too many requests", code="rate_limited")
        answer.headers["Retry-After"] = str(window.retry_after_s)
    else:
        try:
            answer = await handler(request)
        except Reject as exc:
            answer = _rejected(hub, exc)
        except web.HTTPException as exc:
            answer = _http_error(hub, exc)
        if fault is not None and fault.after and (fault.drop or fault.status is not None):
            answer = _fault_response(hub, request, fault)
    if answer is not None:
        answer.headers.update(window.headers())
    return answer
