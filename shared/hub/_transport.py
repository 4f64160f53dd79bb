"""The HTTP edge of the Hub client: headers, the retry policy, and the translation of answers.

A 2xx answer gives its JSON body; 401/403 raise ``HubAuthError``, any other non-2xx
``HubRejected`` (with the Hub's own ``detail`` or ``error``/``code``/``hint``), and what
``send_with_retry`` gives up on ``HubUnavailable``. No httpx exception gets past here.
Keys travel only in the ``Authorization`` header and are never logged.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import httpx
import orjson
import structlog
from httpx_aiohttp import AiohttpTransport

from shared import tracing
from shared.errors import HubAuthError, HubRejected, HubUnavailable

from ._retry import RetryPolicy, Sleep, send_with_retry
from ._wire import IDEMPOTENCY_HEADER, Call

log = structlog.get_logger(__name__)


def pooled_http(timeout_s: float) -> httpx.AsyncClient:
    """Httpx over aiohttp's connection pool: a third of the CPU per call of httpx's own (httpcore)."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=30)
    return httpx.AsyncClient(
        transport=_AiohttpTransport(limits=limits),
        timeout=httpx.Timeout(timeout_s),
        headers={"User-Agent": "botburrow-agents"},
    )


class _AiohttpTransport(AiohttpTransport):
    """``AiohttpTransport``, but a refused or reset connection is a connection error, not a timeout."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.TimeoutException as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(cause, TimeoutError):
                raise httpx.ConnectError(str(exc), request=request) from cause
            raise


class Transport:
    """Sends ``Call``s to the Hub at ``root`` (its URL including ``/api/v1``)."""

    def __init__(
        self,
        *,
        root: str,
        http: httpx.AsyncClient,
        owns_http: bool,
        policy: RetryPolicy,
        sleep: Sleep,
        timeout_s: float,
    ) -> None:
        self.root = root
        self._http = http
        self._owns_http = owns_http
        self._policy = policy
        self._sleep = sleep
        self._timeout_s = timeout_s

    async def aclose(self) -> None:
        """Close the httpx client if it was made for this transport."""
        if self._owns_http:
            await self._http.aclose()

    async def request(
        self,
        call: Call,
        *,
        token: str | None,
        idempotency_key: str | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Send ``call`` under the retry policy; the JSON body of a 2xx answer (``None`` when empty)."""
        what = f"{call.method} {call.path}"
        if call.write and not idempotency_key:
            raise ValueError(f"{what} is a write: an idempotency_key is required")
        headers = {"Accept": "application/json", **tracing.headers()}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        timeout = httpx.Timeout(timeout_s or self._timeout_s)
        url = self.root + call.path

        async def send() -> httpx.Response:
            return await self._http.request(
                call.method, url, params=call.params or None, json=call.json, headers=headers, timeout=timeout
            )

        started = time.perf_counter()
        response = await send_with_retry(send, policy=self._policy, sleep=self._sleep, what=what)
        status = response.status_code
        log.debug("hub.request", call=what, status=status, duration_ms=round((time.perf_counter() - started) * 1000))
        if status in (401, 403):
            raise HubAuthError(f"{what}: the Hub answered {status}: {_detail(response)}", status=status)
        if not 200 <= status < 300:
            raise HubRejected(f"{what}: the Hub answered {status}: {_detail(response)}", status=status)
        if not response.content.strip():
            return None
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            problem = f"{what}: the Hub answered {status} with a body that is not JSON"
            raise HubUnavailable(problem, status=status) from exc
        if isinstance(body, dict) and body.get("success") is False:
            raise HubRejected(f"{what}: the Hub answered {status} but said: {_detail(response)}", status=status)
        return body


def _detail(response: httpx.Response) -> str:
    """The Hub's own explanation of an error (``detail``, or ``error``/``code``/``hint``), shortened."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        detail = body.get("detail")
        if detail is not None:
            return (detail if isinstance(detail, str) else orjson.dumps(detail).decode())[:300]
        parts = [f"{name}: {body[name]}" for name in ("error", "code", "hint") if body.get(name)]
        if parts:
            return "; ".join(parts)[:300]
    return response.reason_phrase or "no detail"
