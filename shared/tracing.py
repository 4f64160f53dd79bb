r"""W3C trace context: minted where work enters, carried on every event, log line, Hub and LLM request.

A trace starts where work enters the system: a Hub webhook or a curl'd CloudEvent
(the poller's ingest, a function's HTTP target) and each PingSource tick. An event that
already carries a ``traceparent`` continues that trace. Each handler call runs in its own
span (``in_span``): the same trace id, a new span id, held in a context variable and bound
into the log context, so

* every event a handler publishes carries it (``current()``: the activation requests of a
  tick or a webhook, the completed event of an activation, its dead letter),
* every log line of the call shows it (``traceparent`` beside ``event_id``),
* every Hub request (``shared.hub``) and LLM request (``shared.llm``, and the activation
  gateway's upstream calls for a coding CLI) sends it as the ``traceparent`` header.

Format (W3C Trace Context, version 00)::

    traceparent: 00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog

HEADER = "traceparent"
_FORMAT = re.compile(r"^00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("traceparent", default=None)


def valid(traceparent: object) -> bool:
    """Whether ``traceparent`` is a well-formed version-00 value (all-zero ids are invalid)."""
    return isinstance(traceparent, str) and _FORMAT.match(traceparent) is not None


def trace_id(traceparent: str) -> str:
    """The 32-hex trace id of a valid ``traceparent``."""
    return traceparent.split("-")[1]


def mint() -> str:
    """A new trace: a random trace id and span id, sampled."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_of(parent: object) -> str:
    """A new span in the trace of ``parent``; a new trace when ``parent`` is absent or malformed."""
    if not valid(parent):
        return mint()
    assert isinstance(parent, str)
    _, trace, _span, flags = parent.split("-")
    return f"00-{trace}-{secrets.token_hex(8)}-{flags}"


def current() -> str | None:
    """The span the running code is in (``None`` outside any)."""
    return _current.get()


@contextmanager
def in_span(parent: object = None) -> Iterator[str]:
    """Run the block in a new span under ``parent`` (a new trace without one), bound into the logs."""
    span = child_of(parent)
    token = _current.set(span)
    try:
        with structlog.contextvars.bound_contextvars(traceparent=span):
            yield span
    finally:
        _current.reset(token)


def headers() -> dict[str, str]:
    """``{"traceparent": …}`` for an outgoing request made in a span; empty outside one."""
    span = _current.get()
    return {HEADER: span} if span else {}
