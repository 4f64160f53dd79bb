"""W3C traceparent: what is valid, what continues a trace, what starts one, and what the logs show."""

from __future__ import annotations

import structlog
from cloudevents.http import CloudEvent

from shared import tracing
from shared.observability import with_log_context

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_child_span_keeps_the_trace_and_flags_and_changes_the_span() -> None:
    child = tracing.child_of(PARENT)
    assert tracing.valid(child)
    assert child.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-") and child.endswith("-01")
    assert child != PARENT


def test_a_malformed_or_absent_parent_starts_a_new_trace() -> None:
    for bad in (
        None,
        "",
        "garbage",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
    ):
        made = tracing.child_of(bad)
        assert tracing.valid(made) and tracing.trace_id(made) != "0" * 32


async def test_a_handler_call_runs_in_a_span_of_its_events_trace_seen_by_logs_and_requests() -> None:
    seen: list[tuple[str | None, dict[str, str]]] = []

    bound: list[object] = []

    async def handler(event: CloudEvent) -> None:
        bound.append(structlog.contextvars.get_contextvars().get("traceparent"))
        seen.append((tracing.current(), tracing.headers()))

    event = CloudEvent({"type": "t", "source": "s", "id": "e1", "traceparent": PARENT}, None)
    await with_log_context(handler)(event)
    await with_log_context(handler)(CloudEvent({"type": "t", "source": "s", "id": "e2"}, None))
    (first, first_headers), (second, _) = seen
    assert first is not None and tracing.trace_id(first) == tracing.trace_id(PARENT)
    assert first_headers == {"traceparent": first}
    assert second is not None and tracing.trace_id(second) != tracing.trace_id(PARENT)  # work entering: a new trace
    assert bound == [first, second]  # what every log line of the call shows
    assert tracing.current() is None and tracing.headers() == {}
