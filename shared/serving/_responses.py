"""Error responses of an HTTP target: JSON naming the problem, never echoing the request.

============================  ======  ==============================================
raised                         status  body (``error`` and what to fix or wait for)
============================  ======  ==============================================
a body over ``MAX_BODY_BYTES``  413     ``limit_bytes``, ``problem``; before auth or parsing
no credential, or a wrong one  401     ``problem`` (what to send); before any parsing
``InvalidEvent``               400     ``field`` (attribute or ``data.<path>``), ``problem``
other ``PermanentError``       422     ``kind`` (the error class), ``problem``
``RetryLater``                 503     ``retry_after_s``; ``Retry-After`` header
``TransientError``             503     ``kind``; ``Retry-After`` when the cause said when
anything else                  500     nothing more: internals stay in the log
============================  ======  ==============================================

functions-framework's own 400 puts the request headers and body in its answer; the
target validates every CloudEvent before the framework sees it, and any quoted text
of a problem that also appears in the request is masked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from shared.errors import InvalidEvent, PermanentError, TransientError
from shared.streams import RetryLater

MAX_PROBLEM_CHARS = 300
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
MASK = "'…'"


@dataclass(frozen=True)
class Answer:
    """A JSON answer of any front (Flask or ASGI): its status, body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        return orjson.dumps(self.body)


def scrub(problem: str, request_parts: Iterable[str]) -> str:
    """``problem`` clipped, with every quoted text that also occurs in the request masked."""
    haystack = "\n".join(request_parts)

    def mask(match: re.Match[str]) -> str:
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        return MASK if inner and inner in haystack else match.group(0)

    return clip(_QUOTED.sub(mask, problem))


def clip(text: str) -> str:
    """``text`` cut to ``MAX_PROBLEM_CHARS``."""
    return text if len(text) <= MAX_PROBLEM_CHARS else text[: MAX_PROBLEM_CHARS - 1] + "…"


def invalid_event(exc: InvalidEvent, request_parts: Iterable[str]) -> Answer:
    """400 naming the attribute or data field that is wrong."""
    return Answer(400, {"error": "invalid_event", "field": exc.field, "problem": scrub(exc.problem, request_parts)})


def unauthenticated(problem: str) -> Answer:
    """401: the push carried no credential its target accepts (``problem`` names headers, never values)."""
    return Answer(401, {"error": "unauthenticated", "problem": problem}, {"WWW-Authenticate": "Bearer"})


def too_large(limit_bytes: int) -> Answer:
    """413: the body is longer than the target reads (``MAX_BODY_BYTES``); nothing of it was used."""
    problem = f"the request body is larger than this target accepts ({limit_bytes} bytes, MAX_BODY_BYTES)"
    return Answer(413, {"error": "body_too_large", "limit_bytes": limit_bytes, "problem": problem})


def retry_after(seconds: float | None) -> dict[str, str]:
    """A ``Retry-After`` header in whole seconds (at least 1), or none."""
    return {} if seconds is None else {"Retry-After": str(max(1, math.ceil(seconds)))}


def for_handler_error(exc: Exception, *, redact: Callable[[str], str], request_parts: Iterable[str]) -> Answer:
    """The answer to a handler that raised ``exc``; ``redact`` masks secrets in a message."""
    if isinstance(exc, InvalidEvent):
        return invalid_event(exc, request_parts)
    if isinstance(exc, PermanentError):
        problem = clip(redact(str(exc)))
        return Answer(422, {"error": "permanent", "kind": type(exc).__name__, "problem": problem})
    if isinstance(exc, RetryLater):
        return Answer(503, {"error": "retry_later", "retry_after_s": exc.delay_s}, retry_after(exc.delay_s))
    if isinstance(exc, TransientError):
        body: dict[str, Any] = {"error": "transient", "kind": type(exc).__name__}
        if exc.retry_after_s is not None:
            body["retry_after_s"] = exc.retry_after_s
        return Answer(503, body, retry_after(exc.retry_after_s))
    return Answer(500, {"error": "internal"})
