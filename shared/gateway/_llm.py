"""The LLM routes: the Anthropic Messages API and OpenAI chat completions, JSON and SSE, brokered.

::

    POST /v1/messages | /v1/chat/completions  (the activation's token as the API key)
      ─► the lease (401 unknown/expired) ─► the request's worst case ─► CallBudget.admit
         (402, never retried: the cost cap or the agent's budget) ─► the agent's provider,
         with the real key ─► the answer passed back as it comes (a stream chunk by chunk)
         while its usage is read ─► CallBudget.settle: booked at once

The provider's own errors (429 with ``retry-after``, 529, 5xx) pass back unchanged, so the
caller's SDK retries them as it would; nothing is billed for them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson
import structlog
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from shared import tracing
from shared.accounting import Admission, Refused
from shared.llm import Usage

from ._errors import error
from ._leases import Api, Lease, Leases
from ._meter import StreamMeter, usage_of, worst_case_usd

log = structlog.get_logger("botburrow.gateway")

_FORWARDED = {
    "anthropic": ("anthropic-version", "anthropic-beta", "accept"),
    "openai": ("accept",),
}
_PASSED_BACK = ("content-type", "request-id", "x-request-id", "retry-after", "x-should-retry")
_PATHS: Mapping[Api, str] = {"anthropic": "/v1/messages", "openai": "/chat/completions"}


class LlmRoutes:
    """The two LLM endpoints over the leases, forwarding with ``http``."""

    def __init__(self, leases: Leases, http: aiohttp.ClientSession | None) -> None:
        """``http`` forwards the calls; the gateway sets it at start when it makes its own."""
        self._leases = leases
        self.http = http

    async def anthropic(self, request: Request) -> Response:
        """``POST /v1/messages``."""
        return await self._call("anthropic", request)

    async def openai(self, request: Request) -> Response:
        """``POST /v1/chat/completions``."""
        return await self._call("openai", request)

    async def _call(self, api: Api, request: Request) -> Response:
        lease = self._leases.get(_token(api, request))
        if lease is None:
            return error(api, 401, "authentication_error", "invalid or expired activation token")
        upstream = lease.upstreams.get(api)
        if upstream is None:
            return error(api, 400, "invalid_request_error", f"this activation's agent has no {api} provider")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return error(api, 400, "invalid_request_error", "the request body is not JSON")
        if not isinstance(body, dict):
            return error(api, 400, "invalid_request_error", "the request body is not a JSON object")
        problem = _misshapen(api, body)
        if problem is not None:
            return error(api, 400, "invalid_request_error", problem)
        admitted = await lease.budget.admit(worst_usd=worst_case_usd(api, body))
        if isinstance(admitted, Refused):
            log.info("gateway.refused", agent=lease.agent, reason=admitted.reason)
            lease.refusals.append(admitted.reason)
            _record(lease, "llm_refused", via="gateway", reason=admitted.reason, detail=admitted.detail)
            return error(api, lease.refusal_status, "billing_error", f"refused: {admitted.detail}")
        streaming = body.get("stream") is True
        _ask_usage(api, body, streaming=streaming)
        lease.calls += 1
        _record(
            lease,
            "llm_request",
            via="gateway",
            call=lease.calls,
            model=body.get("model"),
            max_tokens=body.get("max_tokens") or body.get("max_completion_tokens"),
            system=body.get("system"),
            tools=[_tool_name(t) for t in body.get("tools") or []],
            messages=body.get("messages"),
        )
        headers = {k: v for k in _FORWARDED[api] if (v := request.headers.get(k))}
        headers["content-type"] = "application/json"  # the gateway sends its own JSON, whatever the caller said
        if lease.traceparent:  # the activation's trace, not one the CLI made up
            headers[tracing.HEADER] = lease.traceparent
        if api == "anthropic":
            headers["x-api-key"] = upstream.api_key
        else:
            headers["authorization"] = f"Bearer {upstream.api_key}"
        url = upstream.base_url.rstrip("/") + _PATHS[api]
        if request.url.query:
            url += "?" + request.url.query
        assert self.http is not None, "the gateway is not started"
        try:
            answer = await self.http.post(url, data=orjson.dumps(body), headers=headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            lease.budget.release(admitted)
            log.warning("gateway.upstream_failed", agent=lease.agent, error=type(exc).__name__)
            return error(api, 502, "api_error", f"the provider could not be reached: {type(exc).__name__}")
        back = {k: v for k in _PASSED_BACK if (v := answer.headers.get(k))}
        if answer.status >= 400 or not streaming:
            return await self._whole(api, lease, admitted, answer, back, str(body.get("model") or ""))
        return StreamingResponse(
            self._stream(api, lease, admitted, answer, str(body.get("model") or "")),
            status_code=answer.status,
            headers=back,
        )

    async def _whole(
        self,
        api: Api,
        lease: Lease,
        admitted: Admission,
        answer: aiohttp.ClientResponse,
        headers: dict[str, str],
        model: str,
    ) -> Response:
        started = time.perf_counter()
        try:
            data = await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            lease.budget.release(admitted)
            return error(api, 502, "api_error", f"the provider's answer broke off: {type(exc).__name__}")
        finally:
            answer.release()
        if answer.status >= 400:
            lease.budget.release(admitted)  # nothing to bill; the caller's SDK decides on a retry
            return Response(data, status_code=answer.status, headers=headers)
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            parsed = {}
        if not isinstance(parsed, dict):
            parsed = {}
        usage = usage_of(api, parsed)
        answered = str(parsed.get("model") or model)
        # The answer goes out first; the spend is booked right after it is sent.
        settle = BackgroundTask(self._settle, lease, admitted, answered, usage, started, parsed)
        return Response(data, status_code=answer.status, headers=headers, background=settle)

    async def _stream(
        self, api: Api, lease: Lease, admitted: Admission, answer: aiohttp.ClientResponse, model: str
    ) -> AsyncIterator[bytes]:
        meter = StreamMeter(api)
        started = time.perf_counter()
        try:
            async for chunk in answer.content.iter_any():
                meter.feed(chunk)
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("gateway.stream_cut", agent=lease.agent, error=type(exc).__name__)
        finally:
            answer.release()
            # Billed for what the stream said, even when it broke off (or the caller went away).
            await self._settle(lease, admitted, meter.model or model, meter.usage, started, {})

    async def _settle(
        self, lease: Lease, admitted: Admission, model: str, usage: Usage, started: float, answer: Mapping[str, Any]
    ) -> None:
        cost = await lease.budget.settle(admitted, model=model, usage=usage)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info(
            "gateway.metered",
            agent=lease.agent,
            model=model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=str(cost),
        )
        _record(
            lease,
            "llm_response",
            via="gateway",
            call=lease.calls,
            model=model,
            stop=answer.get("stop_reason") or _finish_reason(answer),
            usage={
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_write_tokens": usage.cache_write_tokens,
                "cache_read_tokens": usage.cache_read_tokens,
            },
            cost_usd=str(cost),
            duration_ms=duration_ms,
        )


async def health(_request: Request) -> Response:
    """``GET /`` and ``HEAD /``: the gateway answers (the CLIs look before they call)."""
    return JSONResponse({"status": "ok"})


def _token(api: Api, request: Request) -> str | None:
    if api == "anthropic" and request.headers.get("x-api-key"):
        return request.headers["x-api-key"]
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def _misshapen(api: Api, body: Mapping[str, Any]) -> str | None:
    """The first field the gateway reads itself that is of the wrong type (the provider judges the rest)."""
    try:
        orjson.dumps(body)  # it is written again to be forwarded: orjson reads 1024 levels, writes 254
    except orjson.JSONEncodeError:
        return "the request body is nested too deeply"
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        return "tools: Input should be a list of tool objects"
    options = body.get("stream_options")
    if api == "openai" and options is not None and not isinstance(options, dict):
        return "stream_options: Input should be an object"
    return None


def _ask_usage(api: Api, body: dict[str, Any], *, streaming: bool) -> None:
    """An OpenAI stream is asked for its usage chunk (``stream_options``), so it can be metered."""
    if streaming and api == "openai":
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}


def _tool_name(tool: Mapping[str, Any]) -> Any:
    """A tool's name for the transcript: Anthropic's ``name``, or OpenAI's ``function.name``."""
    function = tool.get("function")
    return tool.get("name") or (function.get("name") if isinstance(function, dict) else None)


def _finish_reason(answer: Mapping[str, Any]) -> str | None:
    choices = answer.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        reason = choices[0].get("finish_reason")
        return str(reason) if reason else None
    return None


def _record(lease: Lease, kind: str, **data: Any) -> None:
    if lease.transcript is not None:
        lease.transcript.add(kind, **data)
