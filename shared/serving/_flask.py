"""Wiring a ``FunctionTarget`` into the Flask app functions-framework builds.

functions-framework executes the target's source file inside the app context of the
Flask app it is building, so ``functions/<name>/main.py`` can reach that app as
``flask.current_app`` and add to it what the framework lacks:

- ``GET /healthz`` (alive, no I/O), ``GET /readyz`` (Redis and the Hub), ``GET /metrics``;
- one body limit for every route (``MAX_BODY_BYTES``): a longer body is answered 413 with
  a JSON body before anything reads it (a declared length over it at once, a chunked one
  as soon as it passes it: werkzeug's ``MAX_CONTENT_LENGTH``);
- a guard before the framework's CloudEvent view that first authenticates the push by
  the target's policy (``_auth``: 401 with a JSON body, before any parsing), then
  validates the event strictly (``shared.events.from_http``) and answers 400 naming the
  attribute, so the framework's own 400, which echoes the request, is never reached;
- error handlers mapping the error tree to statuses (see ``_responses``);
- a JSON answer (event id, outcome ids) in place of the framework's ``OK``;
- the event's log context on the request thread, and ``botburrow_http_requests_total``.
"""

from __future__ import annotations

from typing import Any

import flask
import structlog
from cloudevents.http import CloudEvent
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from shared.logs import configure_logging
from shared.observability import CONTEXT_KEYS, event_context
from shared.settings import Settings
from shared.signing import SIGNATURE_HEADER

from ._auth import AuthPolicy
from ._core import Served
from ._gate import Gate
from ._responses import Answer
from ._target import FunctionTarget

log = structlog.get_logger("botburrow.serving")

_SERVED = "botburrow_served"
# The framework's CloudEvent view (its endpoint is the signature type): the only one the guard guards,
# so a plain route a main.py adds (the definitions function's /webhook) is its own business.
_CLOUDEVENT_ENDPOINT = "cloudevent"


def serve(target: FunctionTarget, event: CloudEvent) -> Served:
    """Handle ``event`` with ``target``; inside a request, its result becomes the JSON answer.

    This is what the ``@functions_framework.cloud_event`` function of a ``main.py`` calls.
    """
    served = target.handle(event)
    if flask.has_request_context():
        setattr(flask.g, _SERVED, served)
    return served


def install_into_current_app(target: FunctionTarget) -> bool:
    """``install`` on the app functions-framework is building, if any; False outside one."""
    if not flask.has_app_context():
        return False
    install(flask.current_app, target)
    return True


def install(app: flask.Flask, target: FunctionTarget) -> None:
    """Add the probe routes, the CloudEvent guard, the error handlers and request metrics to ``app``."""
    wiring = _Wiring(target)
    app.config["MAX_CONTENT_LENGTH"] = target.settings.max_body_bytes
    app.add_url_rule("/healthz", "healthz", wiring.healthz, methods=["GET"])
    app.add_url_rule("/readyz", "readyz", wiring.readyz, methods=["GET"])
    app.add_url_rule("/metrics", "metrics", wiring.metrics, methods=["GET"])
    app.before_request(wiring.limit)
    app.before_request(wiring.guard)
    app.after_request(wiring.answer)
    app.teardown_request(wiring.forget)
    app.register_error_handler(HTTPException, wiring.http_error)
    app.register_error_handler(Exception, wiring.handler_error)


class _Wiring:
    """The views and hooks ``install`` adds, around one target's ``Gate``."""

    def __init__(self, target: FunctionTarget) -> None:
        self.target = target
        self.gate = Gate(target)

    def healthz(self) -> flask.Response:
        return to_flask(self.gate.healthz())

    def readyz(self) -> flask.Response:
        return to_flask(self.gate.ready(self.target.readiness()))

    def metrics(self) -> flask.Response:
        return flask.Response(self.target.exposition(), status=200, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def limit(self) -> flask.Response | None:
        """413 for a declared body over the limit, on every route, before auth reads it."""
        refused = self.gate.too_long(flask.request.content_length)
        return None if refused is None else to_flask(refused)

    def guard(self) -> flask.Response | None:
        """Authenticate a POST, then validate its CloudEvent before the framework parses it (and echoes it)."""
        request = flask.request
        if request.method != "POST" or request.endpoint != _CLOUDEVENT_ENDPOINT:
            return None
        body = request.get_data()
        refused = self.gate.authenticate(
            body, signature=request.headers.get(SIGNATURE_HEADER), authorization=request.headers.get("Authorization")
        )
        if refused is not None:
            return to_flask(refused)
        event = self.gate.parse(dict(request.headers), body, _request_parts)
        if isinstance(event, Answer):
            return to_flask(event)
        structlog.contextvars.bind_contextvars(**event_context(event))
        return None

    def answer(self, response: flask.Response) -> flask.Response:
        """Replace the framework's ``OK`` with the JSON of what was served; count the request."""
        served: Served | None = flask.g.pop(_SERVED, None)
        if served is not None and response.status_code == 200:
            response = to_flask(self.gate.served(served))
        rule = flask.request.url_rule
        self.gate.count(rule.rule if rule is not None else "unmatched", response.status_code)
        return response

    def forget(self, _exc: BaseException | None) -> None:
        structlog.contextvars.unbind_contextvars(*CONTEXT_KEYS)

    def http_error(self, exc: HTTPException) -> flask.Response:
        if isinstance(exc, RequestEntityTooLarge):  # a chunked body that passed the limit while read
            return to_flask(self.gate.over_limit(None))
        return to_flask(Answer(exc.code or 500, {"error": (exc.name or "error").lower().replace(" ", "_")}))

    def handler_error(self, exc: Exception) -> flask.Response:
        return to_flask(self.gate.failed(exc, _request_parts))


def to_flask(answer: Answer) -> flask.Response:
    """``answer`` as a Flask response."""
    return flask.Response(answer.content(), status=answer.status, mimetype="application/json", headers=answer.headers)


def _request_parts() -> list[str]:
    request = flask.request
    parts: list[Any] = [request.get_data(as_text=True), *request.headers.values()]
    return [str(p) for p in parts]


def start_target(name: str, *, auth: AuthPolicy, handler: str | None = None) -> FunctionTarget:
    """What every ``functions/<name>/main.py`` does at import: settings, logs, the target, the routes.

    ``handler`` is the handler factory (``module:attribute``); ``None`` means
    ``RUNNER_HANDLER``. ``auth`` is the policy pushes must pass (``hub_webhook``,
    ``events_token``, ``ticks``). Logging is configured once per process: a host that
    already configured it (a test session) keeps its own.
    """
    settings = Settings.from_env()
    if not structlog.is_configured():
        configure_logging(level=settings.log_level, json=settings.log_json, secrets=settings.secrets())
    target = FunctionTarget.from_settings(name, settings, handler=handler or settings.runner.handler, auth=auth)
    if not target.auth.configured:
        log.warning("serving.push_auth_unconfigured", function=name, settings=target.auth.settings_named)
    install_into_current_app(target)
    return target
