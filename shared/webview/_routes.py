"""The web view's routes on the metrics function's Flask app.

=====================================  =====================================================
route                                  answer
=====================================  =====================================================
``GET /ui``                            the page (HTML); signed out: 401 and how to sign in
``GET /ui/login?token=T``              a one-time token: a session cookie, then ``/ui``
``POST /ui/login-link``                bearer only: ``{"url": "/ui/login?token=..."}``, a new link
``GET /ui/static/<file>``              the page's CSS and JS (open: code, no data)
``GET /ui/api/snapshot``               ``Snapshots.snapshot`` (JSON)
``GET /ui/api/activations/<id>``       one activation's transcript (JSON), 404 unknown
``GET /ui/activations/<id>``           the transcript page (HTML)
``GET /ui/events``                     server-sent events: a ``snapshot`` event at once, then
                                       one whenever the results or activation streams move
                                       (a blocking ``XREAD``), at least every ``every_s``
``POST /ui/api/agents/<name>/<do>``    ``pause``, ``resume``, ``breaker-reset`` (audited, who
                                       ``ui:operator``); wants ``X-Botburrow-UI: 1``
=====================================  =====================================================

Every route but the static files and the login wants ``Authorization: Bearer
<OPERATOR_TOKEN>`` or the session cookie (``_auth``); without either the answer is 401.
The cookie is ``SameSite=Strict`` and the controls want a custom header, which a page of
another origin cannot send without CORS: no cross-site request can press a button.

Each open event stream holds one of gunicorn's threads: at most ``max_streams`` are open
at once (another gets 503 with ``Retry-After``), and each ends after ``stream_max_s``
(the browser's ``EventSource`` reconnects by itself), so a tab left open cannot starve
the Service of threads.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import flask
import orjson
import structlog

from shared.agents import AgentStore
from shared.definitions import agent_store
from shared.errors import ConfigurationError
from shared.operator import Controls, Operator, UnknownAgent, summarize
from shared.serving import FunctionTarget, operator_token
from shared.streams import Redis, StreamKeys, text, translated
from shared.transcripts import TranscriptStore

from ._auth import COOKIE, SESSION_TTL_S, Sessions
from ._snapshot import Snapshots

log = structlog.get_logger("botburrow.webview")

UI_HEADER = "X-Botburrow-UI"
MAX_STREAMS = 4
"""How many event streams may be open at once (each holds a request thread)."""
STREAM_MAX_S = 300.0
"""How long one event stream lasts before the browser reconnects."""
EVERY_S = 5.0
"""The longest wait between two snapshots on an event stream."""
BLOCK_MS = 1000
_ACTIONS = ("pause", "resume", "breaker-reset")
_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".html": "text/html", ".svg": "image/svg+xml"}


def install_webview_routes(
    app: flask.Flask,
    target: FunctionTarget,
    *,
    max_streams: int = MAX_STREAMS,
    stream_max_s: float = STREAM_MAX_S,
    every_s: float = EVERY_S,
) -> None:
    """Add the web view's routes (see the module docstring) to ``app``."""
    routes = _Routes(target, max_streams=max_streams, stream_max_s=stream_max_s, every_s=every_s)
    rules: list[tuple[str, str, Any, list[str]]] = [
        ("/ui", "webview_page", routes.page, ["GET"]),
        ("/ui/", "webview_page_slash", routes.page, ["GET"]),
        ("/ui/login", "webview_login", routes.login, ["GET"]),
        ("/ui/login-link", "webview_login_link", routes.login_link, ["POST"]),
        ("/ui/static/<name>", "webview_static", routes.static, ["GET"]),
        ("/ui/api/snapshot", "webview_snapshot", routes.snapshot, ["GET"]),
        ("/ui/api/activations/<activation_id>", "webview_activation_json", routes.activation_json, ["GET"]),
        ("/ui/activations/<activation_id>", "webview_activation", routes.activation_page, ["GET"]),
        ("/ui/events", "webview_events", routes.events, ["GET"]),
        ("/ui/api/agents/<name>/<action>", "webview_control", routes.control, ["POST"]),
    ]
    for rule, endpoint, view, methods in rules:
        app.add_url_rule(rule, endpoint, view, methods=methods)


def _asset(name: str) -> bytes | None:
    path = resources.files("shared.webview").joinpath("static", name)
    return path.read_bytes() if path.is_file() else None


def _json(status: int, body: dict[str, Any]) -> flask.Response:
    return flask.Response(orjson.dumps(body), status=status, mimetype="application/json")


class _Routes:
    def __init__(self, target: FunctionTarget, *, max_streams: int, stream_max_s: float, every_s: float) -> None:
        self.target = target
        self.bearer = operator_token(target.settings)
        self.snapshots = Snapshots(hub=target.settings.hub, streams=target.settings.streams)
        self.slots = threading.BoundedSemaphore(max_streams)
        self.stream_max_s = stream_max_s
        self.every_s = every_s

    # -- authentication -----------------------------------------------------------

    def _sessions(self, redis: Redis, keys: StreamKeys) -> Sessions:
        return Sessions(redis, prefix=keys.prefix)

    def _signed_in(self) -> bool:
        if self.bearer.check(b"", signature=None, authorization=flask.request.headers.get("Authorization")):
            return True
        cookie = flask.request.cookies.get(COOKIE)
        if not cookie:
            return False

        async def valid(redis: Redis, keys: StreamKeys) -> bool:
            return await self._sessions(redis, keys).valid(cookie)

        return self.target.run(valid)

    def _refused(self) -> flask.Response:
        log.info("http.webview_refused", path=flask.request.path)
        if flask.request.path.startswith(("/ui/api/", "/ui/events")):
            return _json(401, {"error": "unauthenticated", "problem": "sign in: open a /ui/login?token=... link"})
        page = _asset("signin.html") or b"sign in"
        return flask.Response(page, status=401, mimetype="text/html")

    def login(self) -> flask.Response:
        token = flask.request.args.get("token", "")

        async def consume(redis: Redis, keys: StreamKeys) -> str | None:
            return await self._sessions(redis, keys).consume_login(token)

        session_id = self.target.run(consume)
        if session_id is None:
            return self._refused()
        answer = flask.redirect("/ui", code=303)
        answer.set_cookie(COOKIE, session_id, max_age=SESSION_TTL_S, httponly=True, samesite="Strict", path="/ui")
        log.info("webview.signed_in")
        return answer  # type: ignore[return-value]

    def login_link(self) -> flask.Response:
        if not self.bearer.check(b"", signature=None, authorization=flask.request.headers.get("Authorization")):
            return _json(401, {"error": "unauthenticated", "problem": "send Authorization: Bearer <OPERATOR_TOKEN>"})

        async def mint(redis: Redis, keys: StreamKeys) -> str:
            return await self._sessions(redis, keys).mint_login()

        return _json(200, {"url": "/ui/login?token=" + self.target.run(mint)})

    # -- pages and data -----------------------------------------------------------

    def page(self) -> flask.Response:
        if not self._signed_in():
            return self._refused()
        return flask.Response(_asset("index.html"), mimetype="text/html")

    def activation_page(self, activation_id: str) -> flask.Response:
        if not self._signed_in():
            return self._refused()
        return flask.Response(_asset("activation.html"), mimetype="text/html")

    def static(self, name: str) -> flask.Response:
        suffix = name[name.rfind(".") :] if "." in name else ""
        body = _asset(name) if "/" not in name and suffix in _STATIC_TYPES else None
        if body is None:
            return _json(404, {"error": "not_found"})
        return flask.Response(body, mimetype=_STATIC_TYPES[suffix], headers={"Cache-Control": "no-cache"})

    def _agents(self, redis: Redis, keys: StreamKeys) -> AgentStore | None:
        try:
            return agent_store(self.target.settings.agents, redis, prefix=keys.prefix)
        except ConfigurationError:
            return None

    def _snapshot(self) -> dict[str, Any]:
        async def work(redis: Redis, keys: StreamKeys) -> dict[str, Any]:
            return await self.snapshots.snapshot(redis, keys, agents=self._agents(redis, keys))

        return self.target.run(work)

    def snapshot(self) -> flask.Response:
        if not self._signed_in():
            return self._refused()
        return _json(200, self._snapshot())

    def activation_json(self, activation_id: str) -> flask.Response:
        if not self._signed_in():
            return self._refused()

        async def load(redis: Redis, keys: StreamKeys) -> dict[str, Any] | None:
            store = TranscriptStore(redis, keys=keys)
            attempts = await store.attempts(activation_id)
            recorded = await store.load(activation_id)
            if recorded is None:
                return None
            rows = {a: s for a, n, s in await store.recent(limit=500) if a == activation_id and n == recorded.attempt}
            started = rows.get(activation_id, time.time())
            summary = summarize(recorded, started=started).as_dict()
            return {"summary": summary, "attempts": attempts, "entries": recorded.entries}

        found = self.target.run(load)
        if found is None:
            return _json(404, {"error": "unknown_activation", "problem": "no transcript of that activation is kept"})
        return _json(200, found)

    # -- controls -------------------------------------------------------------------

    def control(self, name: str, action: str) -> flask.Response:
        if not self._signed_in():
            return self._refused()
        if action not in _ACTIONS:
            return _json(404, {"error": "unknown_action", "problem": "pause, resume or breaker-reset"})
        if flask.request.headers.get(UI_HEADER) != "1":
            return _json(403, {"error": "forbidden", "problem": f"the page's controls send {UI_HEADER}: 1"})

        async def work(redis: Redis, keys: StreamKeys) -> dict[str, Any]:
            operator = Operator(redis, keys=keys, agents=self._agents(redis, keys))
            controls = Controls(redis, keys=keys, operator=operator)
            do = {"pause": controls.pause, "resume": controls.resume, "breaker-reset": controls.reset_breaker}[action]
            return (await do(name, who="ui:operator")).as_dict()

        try:
            return _json(200, self.target.run(work))
        except UnknownAgent as exc:
            return _json(404, {"error": "unknown_agent", "problem": str(exc)})

    # -- events ---------------------------------------------------------------------

    def events(self) -> flask.Response:
        if not self._signed_in():
            return self._refused()
        if not self.slots.acquire(blocking=False):
            body = {"error": "busy", "problem": "too many open event streams; the page retries"}
            answer = _json(503, body)
            answer.headers["Retry-After"] = "5"
            return answer
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        answer = flask.Response(self._stream(), mimetype="text/event-stream", headers=headers)
        released = threading.Event()

        def release() -> None:
            # The server closes every response, streamed to the end or not (a closed tab, a
            # generator never started): the slot is given back there, once.
            if not released.is_set():
                released.set()
                self.slots.release()

        answer.call_on_close(release)
        return answer

    def _stream(self) -> Iterator[bytes]:
        """Snapshot events until ``stream_max_s`` has passed (the slot is released when the answer closes)."""
        deadline = time.monotonic() + self.stream_max_s
        yield b"retry: 2000\n\n"
        last = self.target.run(_last_ids)
        yield _event("snapshot", self._snapshot())
        sent = time.monotonic()
        while time.monotonic() < deadline:
            moved, last = self.target.run(functools.partial(_moved, last=last))
            if moved or time.monotonic() - sent >= self.every_s:
                yield _event("snapshot", self._snapshot())
                sent = time.monotonic()
            else:
                yield b": idle\n\n"  # a closed tab shows up as a failed write


def _event(name: str, body: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"


def _streams(keys: StreamKeys) -> list[str]:
    return [*keys.activation_streams, keys.results]


async def _last_ids(redis: Redis, keys: StreamKeys) -> dict[str, str]:
    """The newest entry id of each watched stream (``0-0`` when empty)."""
    out = {}
    for stream in _streams(keys):
        async with translated("XREVRANGE newest"):
            rows = await redis.xrevrange(stream, count=1)
        out[stream] = text(rows[0][0]) if rows else "0-0"
    return out


async def _moved(redis: Redis, _keys: StreamKeys, *, last: dict[str, str]) -> tuple[bool, dict[str, str]]:
    """Whether any watched stream got an entry within ``BLOCK_MS``, and the ids read up to."""
    async with translated("XREAD webview"):
        rows: Any = await redis.xread(dict(last), block=BLOCK_MS, count=100)  # type: ignore[arg-type]
    moved = dict(last)
    for stream, entries in rows or []:
        if entries:
            moved[text(stream)] = text(entries[-1][0])
    return bool(rows), moved
