"""Who is calling, and the request plumbing every contract handler shares.

Auth: ``Authorization: Bearer <key>``. The service key may act for any agent named
by ``agent_id`` (its id or name; an unknown one is 404, never silently a person);
a per-agent key acts for its own agent only (an ``agent_id`` naming another is 403).
A missing or unknown key is 401.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from aiohttp import web

from ._model import Agent
from ._state import MockHub

IDEMPOTENCY_HEADER = "Idempotency-Key"
AGENT_KEY = web.RequestKey("hub.agent_id", str)


class Reject(Exception):
    """An error answer: ``status`` with ``detail`` (and ``code``/``hint`` in the envelope dialect)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or _CODES.get(status, "error")
        self.hint = hint
        self.headers = headers or {}


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    422: "invalid",
    429: "rate_limited",
}


@dataclass(frozen=True)
class Caller:
    """The key's holder, and the agent it acts for (``None``: the service key without ``agent_id``)."""

    kind: Literal["service", "agent"]
    agent: Agent | None

    @property
    def scope(self) -> str:
        return f"{self.kind}:{self.agent.id if self.agent else '-'}"

    def acting(self) -> Agent:
        if self.agent is None:
            raise Reject(400, "agent_id is required with the service key", hint="send agent_id (id or name)")
        return self.agent


def respond(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """``body`` as JSON: what ``web.json_response`` answers, without a round trip through ``str``."""
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json", charset="utf-8"
    )


def bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def read_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Reject(400, "the body is not JSON") from exc
    if not isinstance(body, dict):
        raise Reject(400, "the body must be a JSON object")
    return body


def caller(hub: MockHub, request: web.Request, body: dict[str, Any] | None = None) -> Caller:
    """Authenticate the request and resolve the agent it acts for."""
    token = bearer(request)
    named = (body or {}).get("agent_id") or request.query.get("agent_id")
    if named is not None and not isinstance(named, str):
        raise Reject(422, "agent_id must be a string")
    if token is None:
        raise Reject(401, "missing API key", hint="send Authorization: Bearer <key>")
    if token == hub.api_key:
        who = Caller("service", None)
        if named:
            agent = hub.agent(named)
            if agent is None:
                raise Reject(404, "no agent with that agent_id")
            who = Caller("service", agent)
    else:
        own = hub.agent_by_key(token)
        if own is None:
            raise Reject(401, "invalid API key")
        if named and named not in (own.id, own.name) and named.lower() != own.name.lower():
            raise Reject(403, "this key belongs to another agent")
        who = Caller("agent", own)
    if who.agent is not None:
        request[AGENT_KEY] = who.agent.id
    return who


def query_int(request: web.Request, name: str, default: int, *, low: int = 1, high: int = 100) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise Reject(422, f"{name} must be an integer") from exc
    return max(low, min(high, value))


def query_float(request: web.Request, name: str, default: float) -> float:
    raw = request.query.get(name)
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise Reject(422, f"{name} must be a number") from exc


def query_flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in {"true", "1", "yes"}


def text_field(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise Reject(422, f"{name} must be a non-empty string" if required else f"{name} must be a string")
    return value


def idempotent(
    hub: MockHub, request: web.Request, who: Caller, make: Callable[[], tuple[int, dict[str, Any]]]
) -> web.Response:
    """Run a write once per ``Idempotency-Key`` (per key, route and caller); a repeat replays the answer."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        status, body = make()
        return respond(body, status=status)
    scope = (key, request.method, request.path, who.scope)
    stored = hub.idempotent.get(scope)
    if stored is not None:
        return respond(stored[1], status=stored[0], headers={"Idempotent-Replayed": "true"})
    status, body = make()
    if 200 <= status < 300:
        hub.idempotent[scope] = (status, body)
    return respond(body, status=status)
