"""What every HTTP front of a target does to a request, whatever serves it (Flask or ASGI).

``Gate`` is framework-free: it takes the body and the headers and gives back either the
CloudEvent to handle or the ``Answer`` to send, in the order the serving layer promises:

1. a body over ``MAX_BODY_BYTES`` is a 413, before anything reads it;
2. a push the target's auth policy refuses is a 401, before any parsing;
3. the CloudEvent is validated strictly (``shared.events.from_http``): a 400 naming the
   attribute, never echoing the request;
4. what was served becomes the JSON answer (event id, outcome ids, their entries), and an
   error raised by the handler its status (``_responses``).

The Flask front (``_flask``) and the ASGI front (``_asgi``) differ only in how they read
a request and write an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import structlog
from cloudevents.http import CloudEvent

from shared.errors import InvalidEvent
from shared.events import from_http
from shared.logs import Redactor
from shared.observability import Readiness
from shared.signing import Verdict

from . import _responses as responses
from ._core import Served
from ._responses import Answer
from ._target import FunctionTarget

log = structlog.get_logger("botburrow.serving")

RequestParts = Callable[[], list[str]]
"""The request's body and header values as text, asked for only when a problem may quote them."""


class Gate:
    """The checks and answers of one target's HTTP front."""

    def __init__(self, target: FunctionTarget) -> None:
        self.target = target
        self.max_body_bytes = target.settings.max_body_bytes
        self.redactor = Redactor(target.settings.secrets())

    def healthz(self) -> Answer:
        return Answer(200, {"status": "ok", "function": self.target.name})

    def ready(self, readiness: Readiness) -> Answer:
        if not readiness.ok:
            log.warning("serving.not_ready", function=self.target.name, failing=readiness.failing)
        return Answer(*readiness.answer())

    def too_long(self, length: int | None) -> Answer | None:
        """The 413 for a body of ``length`` bytes (declared or read so far) over the limit, else ``None``."""
        if length is None or length <= self.max_body_bytes:
            return None
        return self.over_limit(length)

    def over_limit(self, length: int | None) -> Answer:
        """The 413 for a body over the limit (``length`` when declared; ``None``: found while reading)."""
        log.info("http.body_too_large", function=self.target.name, length=length)
        return responses.too_large(self.max_body_bytes)

    def authenticate(self, body: bytes, *, signature: str | None, authorization: str | None) -> Answer | None:
        """``None`` when the target's policy accepts the request's credential, else the 401."""
        auth = self.target.auth
        verdict = auth.check(body, signature=signature, authorization=authorization)
        if verdict:
            return None
        log.info("http.push_refused", function=self.target.name, policy=auth.name, verdict=str(verdict))
        if not auth.configured:
            problem = f"this function has no credential configured ({auth.settings_named}): it refuses every push"
        elif verdict is Verdict.MISMATCH:
            problem = "the signature or token does not match"
        else:
            problem = f"no credential: send {auth.wanted()}"
        return responses.unauthenticated(problem)

    def parse(self, headers: Mapping[str, str], body: bytes, parts: RequestParts) -> CloudEvent | Answer:
        """The request's CloudEvent, or the 400 naming what is wrong with it."""
        try:
            return from_http(headers, body)
        except InvalidEvent as exc:
            log.info("http.event_rejected", function=self.target.name, field=exc.field)
            return responses.invalid_event(exc, parts())

    def served(self, served: Served) -> Answer:
        body = {"id": served.event_id, "outcome": list(served.outcome_ids), "entries": list(served.entry_ids)}
        return Answer(200, body)

    def failed(self, exc: Exception, parts: RequestParts) -> Answer:
        """The answer to a handler that raised ``exc``; a 500 is logged with its traceback."""
        answer = responses.for_handler_error(exc, redact=self.redactor.text, request_parts=parts())
        if answer.status == 500:
            log.exception("http.handler_crashed", function=self.target.name)
        else:
            status, error = answer.status, type(exc).__name__
            log.warning("http.handler_failed", function=self.target.name, status=status, error=error)
        return answer

    def count(self, route: str, status: int) -> None:
        """``botburrow_http_requests_total`` for one answered request."""
        self.target.metrics.http_requests.labels(route=route, status=str(status)).inc()
