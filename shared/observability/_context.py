"""Log context at the handler boundary: every line of an activation names its event.

``with_log_context(handler)`` binds ``event_id`` and ``agent_id`` (the event's
``subject``) with ``structlog.contextvars`` for the duration of one handler call, and
runs the call in its own span (``shared.tracing.in_span``) under the event's
``traceparent`` (the W3C trace context extension; a new trace when the event has none:
work entering here), so the pump and the HTTP target produce the same log lines for the
same event, and everything the call sends carries its trace.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from cloudevents.http import CloudEvent

from shared import tracing
from shared.streams import Handler, Outcome

CONTEXT_KEYS = ("event_id", "agent_id", "traceparent")


def event_context(event: CloudEvent) -> dict[str, Any]:
    """The log context of ``event``: its id, its agent (subject) and its trace, when present."""
    context: dict[str, Any] = {"event_id": str(event["id"])}
    subject = event.get("subject")
    if subject:
        context["agent_id"] = str(subject)
    traceparent = event.get("traceparent")
    if traceparent:
        context["traceparent"] = str(traceparent)
    return context


@contextmanager
def log_context(event: CloudEvent) -> Iterator[dict[str, Any]]:
    """Bind the context of ``event`` to the current task or thread while the block runs.

    Values bound before are restored afterwards, so nested calls (HTTP thread, then
    handler task) do not leak one event's ids into the next.
    """
    context = event_context(event)
    parent = context.pop("traceparent", None)
    with structlog.contextvars.bound_contextvars(**context), tracing.in_span(parent) as span:
        yield {**context, "traceparent": span}


def with_log_context(handler: Handler) -> Handler:
    """``handler`` with the event's context bound around every call (a ``Handler -> Handler`` policy)."""

    @functools.wraps(handler)
    async def handle(event: CloudEvent) -> Outcome:
        with log_context(event):
            return await handler(event)

    return handle
