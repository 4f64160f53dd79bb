"""The aiohttp app serving both dialects, and ``FakeLLMServer`` that runs it on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Protocol

import structlog
from aiohttp import web
from pydantic import ValidationError

from ._anthropic import SSE_HEADERS, AnthropicDialect
from ._common import ApiError, Conversation, Turn, dumps, invalid
from ._core import FakeLLM, RecordedRequest
from ._faults import FaultRequest, RuntimeFault
from ._openai import OpenAIDialect
from ._scripts import Fail, FailKind, Script

log = structlog.get_logger(__name__)

_LISTED_MODELS = ("claude-sonnet-4-5", "gpt-4o-mini")


class Dialect(Protocol):
    name: str

    def authenticate(self, headers: Any, core: FakeLLM) -> None: ...
    def validate(self, body: Any) -> Conversation: ...
    def fail_error(self, fail: Fail) -> ApiError: ...
    def error_response(self, err: ApiError) -> web.Response: ...
    async def respond(self, request: web.Request, conv: Conversation, turn: Turn) -> web.StreamResponse: ...
    def stream_head(self, conv: Conversation, turn_id: str) -> bytes: ...
    def stream_error(self, err: ApiError) -> bytes: ...


class _Handlers:
    def __init__(self, core: FakeLLM, *, closing: asyncio.Event, max_hang_s: float) -> None:
        self.core = core
        self.closing = closing
        self.max_hang_s = max_hang_s
        self.anthropic_dialect = AnthropicDialect()
        self.openai_dialect = OpenAIDialect()

    async def anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self.anthropic_dialect)

    async def openai(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, self.openai_dialect)

    async def models(self, request: web.Request) -> web.Response:
        names = [*_LISTED_MODELS, *sorted(self.core.scripts)]
        if "anthropic-version" in request.headers:
            data = [{"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"} for n in names]
            return web.json_response({"data": data, "has_more": False, "first_id": names[0], "last_id": names[-1]})
        models = [{"id": n, "object": "model", "created": 1735689600, "owned_by": "fake-llm"} for n in names]
        return web.json_response({"object": "list", "data": models})

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def add_fault(self, request: web.Request) -> web.Response:
        try:
            body = await request.json(loads=json.loads)
            fault = self.core.faults.add(FaultRequest.model_validate(body))
        except ValueError as exc:  # not JSON, or a ValidationError naming the field
            return web.json_response({"error": _problem(exc)}, status=422)
        return web.json_response(fault.as_json(), status=201)

    async def list_faults(self, _request: web.Request) -> web.Response:
        return web.json_response({"faults": [f.as_json() for f in self.core.faults.active()]})

    async def last_request(self, request: web.Request) -> web.Response:
        """The body of the last answered request to ``?api=`` (``anthropic``, ``openai``): 404 when none."""
        api = request.query.get("api", "anthropic")
        for record in reversed(self.core.requests):
            if record.api == api and record.status == 200 and isinstance(record.body, dict):
                return web.json_response({"path": record.path, "body": record.body})
        return web.json_response({"error": f"no answered {api} request yet"}, status=404)

    async def clear_faults(self, _request: web.Request) -> web.Response:
        self.core.faults.clear()
        return web.json_response({"faults": []})

    async def _handle(self, request: web.Request, dialect: Dialect) -> web.StreamResponse:
        record = self.core.record(dialect.name, request.method, request.path, dict(request.headers))
        try:
            response = await self._answer(request, dialect, record)
        except ApiError as err:
            response = dialect.error_response(err)
        record.status = response.status
        log.info(
            "fake_llm.request",
            api=dialect.name,
            script=record.script,
            step=record.step,
            attempt=record.attempt,
            status=response.status,
        )
        return response

    async def _answer(self, request: web.Request, dialect: Dialect, record: RecordedRequest) -> web.StreamResponse:
        dialect.authenticate(request.headers, self.core)
        try:
            record.body = await request.json(loads=json.loads)
        except ValueError:
            raise invalid("request body is not valid JSON") from None
        conv = dialect.validate(record.body)
        fault = self.core.faults.take(request.path)
        if fault is not None:  # an outage: whatever the script, and without counting a script attempt
            record.fault = fault.id
            return await self._fail(request, dialect, conv, fault.fail)
        plan = self.core.plan(dialect.name, conv)
        record.script, record.step, record.attempt = plan.script, plan.index, plan.attempt
        if plan.step.delay_s:
            await asyncio.sleep(plan.step.delay_s)
        if plan.step.fail is not None and plan.step.fails_on(plan.attempt):
            return await self._fail(request, dialect, conv, plan.step.fail)
        return await dialect.respond(request, conv, self.core.turn(dialect.name, conv, plan))

    async def _fail(self, request: web.Request, dialect: Dialect, conv: Conversation, fail: Fail) -> web.StreamResponse:
        if fail.kind == "hang":
            # Until the client gives up (which cancels this handler) or the server stops.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), self.max_hang_s)
            raise ApiError(503, "overloaded", "fake llm: gave up hanging")
        if fail.kind == "disconnect":
            return await self._disconnect(request, dialect, conv)
        err = dialect.fail_error(fail)
        if not (fail.in_stream and conv.stream):
            raise err
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        await response.write(dialect.stream_head(conv, "failing"))
        await response.write(dialect.stream_error(err))
        await response.write_eof()
        return response

    async def _disconnect(self, request: web.Request, dialect: Dialect, conv: Conversation) -> web.StreamResponse:
        if conv.stream:
            response = web.StreamResponse(headers=SSE_HEADERS)
            await response.prepare(request)
            await response.write(dialect.stream_head(conv, "dropped"))
        else:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = 4096
            await response.prepare(request)
            await response.write(dumps({"partial": True})[:8].encode())
        if request.transport is not None:
            request.transport.close()
        return response


def make_app(core: FakeLLM, *, closing: asyncio.Event | None = None, max_hang_s: float = 300.0) -> web.Application:
    """The fake's routes: ``/v1/messages``, ``/v1/chat/completions``, ``/v1/models``, ``/healthz``, ``/_fake/…``."""
    handlers = _Handlers(core, closing=closing or asyncio.Event(), max_hang_s=max_hang_s)
    app = web.Application()
    app.router.add_post("/v1/messages", handlers.anthropic)
    app.router.add_post("/v1/chat/completions", handlers.openai)
    app.router.add_get("/v1/models", handlers.models)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_post("/_fake/faults", handlers.add_fault)
    app.router.add_get("/_fake/faults", handlers.list_faults)
    app.router.add_delete("/_fake/faults", handlers.clear_faults)
    app.router.add_get("/_fake/requests/last", handlers.last_request)
    return app


def _problem(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
    return f"the body is not valid JSON: {exc}"


class FakeLLMServer:
    """The fake LLM on a loopback port, as an async context manager.

    ``anthropic_base_url`` is the host root (the Anthropic SDK's ``base_url``);
    ``openai_base_url`` ends in ``/v1`` (the OpenAI SDK's ``base_url``). ``requests``
    lists every request received, in order, for tests to assert on. ``voices`` switches
    the plain reply to the agent's voice (see ``FakeLLM``).
    """

    def __init__(
        self,
        *,
        scripts: Iterable[Script] = (),
        default_script: str | None = None,
        api_keys: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_hang_s: float = 300.0,
        voices: bool = False,
    ) -> None:
        self.core = FakeLLM(scripts=scripts, default_script=default_script, api_keys=api_keys, voices=voices)
        self.host = host
        self.port = port
        self.max_hang_s = max_hang_s
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.core.requests

    def calls(self, path: str) -> list[RecordedRequest]:
        """The requests received on ``path`` (``/v1/messages``, ``/v1/chat/completions``)."""
        return [r for r in self.core.requests if r.path == path]

    def add_script(self, script: Script) -> None:
        self.core.add_script(script)

    def add_fault(
        self,
        kind: FailKind,
        *,
        status: int | None = None,
        message: str | None = None,
        retry_after_s: float | None = None,
        in_stream: bool = False,
        times: int | None = None,
        for_s: float | None = None,
        path: str | None = None,
    ) -> RuntimeFault:
        """Fail the next ``times`` requests (default 1), or every one for ``for_s`` seconds, on ``path``.

        Applied whatever the request's script (see ``_faults``); ``path`` is ``/v1/messages``,
        ``/v1/chat/completions`` or a glob, both APIs when omitted.

        Raises:
            pydantic.ValidationError: a field out of range, or both ``times`` and ``for_s``.
        """
        fail = Fail(kind=kind, status=status, message=message, retry_after_s=retry_after_s, in_stream=in_stream)
        return self.core.faults.add(FaultRequest(fail=fail, times=times, for_s=for_s, path=path))

    def clear_faults(self) -> None:
        """Stop every runtime fault."""
        self.core.faults.clear()

    @property
    def faults(self) -> list[RuntimeFault]:
        """The runtime faults still active."""
        return self.core.faults.active()

    def reset(self) -> None:
        self.core.reset()

    async def start(self) -> FakeLLMServer:
        self._closing = asyncio.Event()
        app = make_app(self.core, closing=self._closing, max_hang_s=self.max_hang_s)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self._closing.set()  # hanging handlers return, so shutdown does not wait on them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLLMServer:
        return await self.start()

    async def __aexit__(self, *exc: object | TracebackType) -> None:
        await self.stop()
