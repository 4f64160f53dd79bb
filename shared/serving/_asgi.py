"""A ``FunctionTarget`` as an ASGI application: the handler runs on the server's own event loop.

Under Flask (``_flask``) every request crosses threads twice: gunicorn's thread pool hands
it to Flask, and the view hands the coroutine to the target's private loop thread and
waits on a condition for its result. For a target whose requests are many and short
(ingest: one per Hub notification) those hand-offs cost more CPU than the work. Here the
server (uvicorn, uvloop and httptools, as ``functions-framework --asgi`` runs an ASGI
app) calls the app on its loop, and the app awaits the handler there: one loop, no
threads, the body read and the CloudEvent parsed once.

The checks and answers are the Flask front's (``Gate``): 413, 401, the strict 400,
the JSON answer, the error statuses. Routes: ``POST /`` (and any ``POST /<path>``, as
functions-framework's CloudEvent route takes) for events, ``GET /healthz``, ``/readyz``,
``/metrics``; any other path is a 404, another method on a route a 405.

The target's clients (``Core``) open at the ASGI lifespan's startup, or on the first
request when the server runs no lifespan, and close at its shutdown, after the server
has drained the requests in flight (uvicorn on SIGTERM)::

    uvicorn functions.poller.ingest:app --host 0.0.0.0 --port 8080 --lifespan on --no-access-log

Why not functions-framework's own ASGI wrapper (``functions_framework.aio``): it throws
away the handler's return value, answers every error it does not expect with a bare
500, puts the CloudEvents SDK's exception text in its 400, and has no lifespan or routes
of ours; the Flask mode's reasons (``shared.serving``) hold for it too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.observability import Readiness, event_context
from shared.signing import SIGNATURE_HEADER

from ._core import Core
from ._gate import Gate
from ._responses import Answer
from ._target import FunctionTarget

log = structlog.get_logger("botburrow.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]
_GETS = {"/healthz", "/readyz", "/metrics"}


class AsgiTarget:
    """The ASGI application of one ``FunctionTarget`` (see the module docstring)."""

    def __init__(self, target: FunctionTarget) -> None:
        self.target = target
        self.gate = Gate(target)
        self._core: Core | None = None
        self._opening: asyncio.Lock | None = None
        self._signature = SIGNATURE_HEADER.lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # -- lifespan -------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                with contextlib.suppress(Exception):  # not ready yet: /readyz says why, the next request retries
                    await self.core()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def core(self) -> Core:
        """The target's entered ``Core``, opened on this loop the first time it is asked for.

        Raises:
            Exception: whatever opening it raised (the next call tries again).
        """
        if self._core is not None:
            return self._core
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._core is None:
                core = self.target.new_core()
                await core.__aenter__()
                self._core = core
                log.info("serving.started", function=self.target.name, mode="asgi")
        return self._core

    async def aclose(self) -> None:
        """Close the handler and the clients (idempotent; best effort at shutdown)."""
        core, self._core = self._core, None
        if core is None:
            return
        try:
            await core.__aexit__(None, None, None)
        except Exception as exc:  # closing is best effort at exit
            log.warning("serving.close_failed", function=self.target.name, error=type(exc).__name__)

    # -- requests -------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if method == "POST" and path not in _GETS:
            route, answer = "/" if path == "/" else "/<path:path>", await self._post(scope, receive)
        elif path not in _GETS:
            route, answer = "unmatched", _not_allowed("POST") if path == "/" else Answer(404, {"error": "not_found"})
        elif method not in ("GET", "HEAD"):
            route, answer = path, _not_allowed("GET")
        elif path == "/metrics":
            await self._metrics(send)
            self.gate.count(path, 200)
            return
        else:
            route = path
            answer = self.gate.healthz() if path == "/healthz" else self.gate.ready(await self._readiness())
        await _send(send, answer)
        self.gate.count(route, answer.status)

    async def _post(self, scope: Scope, receive: Receive) -> Answer:
        headers = _headers(scope)
        declared = headers.get("content-length", "")
        refused = self.gate.too_long(int(declared) if declared.isdigit() else None)
        if refused is not None:
            return refused
        body = await self._body(receive)
        if body is None:
            return self.gate.over_limit(None)
        refused = self.gate.authenticate(
            body, signature=headers.get(self._signature), authorization=headers.get("authorization")
        )
        if refused is not None:
            return refused

        def parts() -> list[str]:
            return [body.decode("utf-8", "replace"), *headers.values()]

        event = self.gate.parse(headers, body, parts)
        if isinstance(event, Answer):
            return event
        tokens = structlog.contextvars.bind_contextvars(**event_context(event))
        try:
            core = await self.core()
            return self.gate.served(await core.serve(event))
        except Exception as exc:  # every error becomes its status (``_responses``)
            return self.gate.failed(exc, parts)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)

    async def _body(self, receive: Receive) -> bytes | None:
        """The request's body, or ``None`` as soon as it passes the limit (the rest is not read)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.gate.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _readiness(self) -> Readiness:
        try:
            core = await self.core()
            async with asyncio.timeout(self.target.ready_timeout_s * 2 + 1):
                return await core.readiness()
        except Exception as exc:  # a target that cannot start is simply not ready
            log.warning("serving.not_ready", function=self.target.name, error=type(exc).__name__)
            return Readiness(checks={"handler": f"cannot start: {type(exc).__name__}"})

    async def _metrics(self, send: Send) -> None:
        with contextlib.suppress(Exception):  # the registry is worth serving even if the handler cannot start
            await self.core()
        body = generate_latest(self.target.registry)
        headers = [(b"content-type", CONTENT_TYPE_LATEST.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def asgi_app(target: FunctionTarget) -> AsgiTarget:
    """``target`` as an ASGI application (what ``functions/<name>/*.py`` exports as ``app``)."""
    return AsgiTarget(target)


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers, names lowercased (ASGI sends them so), values as latin-1 text."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def _not_allowed(allow: str) -> Answer:
    return Answer(405, {"error": "method_not_allowed"}, {"Allow": allow})


async def _send(send: Send, answer: Answer) -> None:
    headers = _JSON + [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.content()})
