"""Errors in each provider's own shape, so SDKs and CLIs read them as their provider's.

A budget refusal is 402 (Anthropic's ``billing_error``; OpenAI's ``insufficient_quota``
type) with ``x-should-retry: false``: the SDKs retry 408, 409, 429 and 5xx, never a 402,
and honour that header besides. A bad token is 401, never retried either.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from ._leases import Api

_NO_RETRY = {"x-should-retry": "false"}
_OPENAI_TYPES = {
    "authentication_error": "invalid_request_error",
    "billing_error": "insufficient_quota",
    "invalid_request_error": "invalid_request_error",
    "api_error": "server_error",
}


def error(api: Api, status: int, kind: str, message: str) -> JSONResponse:
    """``{"type": "error", "error": {...}}`` for Anthropic, ``{"error": {...}}`` for OpenAI."""
    if api == "anthropic":
        body: dict[str, object] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        code = "invalid_api_key" if kind == "authentication_error" else _OPENAI_TYPES.get(kind, kind)
        body = {"error": {"message": message, "type": _OPENAI_TYPES.get(kind, kind), "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=_NO_RETRY)
