"""The shared policies: log context and activation metrics, on a fresh registry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import structlog
from cloudevents.http import CloudEvent
from prometheus_client import CollectorRegistry

from shared import tracing
from shared.errors import HubUnavailable, InvalidEvent
from shared.events import Usage, activation_completed
from shared.observability import ActivationMetrics, event_context, with_activation_metrics, with_log_context
from shared.streams import Outcome, RetryLater


def event(**attributes: str) -> CloudEvent:
    return CloudEvent({"type": "t", "source": "/s", "id": "e-1", **attributes}, {})


def completed(outcome: str, usage: Usage | None = None) -> CloudEvent:
    return activation_completed(
        activation_id="e-1",
        agent_id="agent-1",
        attempt=1,
        outcome=outcome,
        duration_ms=5,
        finished_at=datetime.now(UTC),
        usage=usage,
    )


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_event_context_names_the_event_its_agent_and_its_trace() -> None:
    assert event_context(event()) == {"event_id": "e-1"}
    assert event_context(event(subject="agent-1", traceparent="00-abc-def-01")) == {
        "event_id": "e-1",
        "agent_id": "agent-1",
        "traceparent": "00-abc-def-01",
    }


async def test_log_context_is_bound_during_the_call_and_restored_after() -> None:
    seen: list[dict[str, object]] = []

    async def handler(_event: CloudEvent) -> Outcome:
        seen.append(dict(structlog.contextvars.get_contextvars()))
        return None

    structlog.contextvars.bind_contextvars(event_id="outer")
    try:
        await with_log_context(handler)(event(subject="agent-1"))
        [bound] = seen
        span = bound.pop("traceparent")  # an event without a trace starts one: work entering here
        assert bound == {"event_id": "e-1", "agent_id": "agent-1"} and tracing.valid(span)
        assert structlog.contextvars.get_contextvars() == {"event_id": "outer"}
    finally:
        structlog.contextvars.clear_contextvars()


async def test_activations_are_counted_by_outcome(registry: CollectorRegistry) -> None:
    metrics = ActivationMetrics(registry)
    usage = Usage(model="claude-x", input_tokens=100, output_tokens=20, cost_usd=0.25)

    async def replied(_event: CloudEvent) -> Outcome:
        return [completed("replied", usage)]

    async def nothing(_event: CloudEvent) -> Outcome:
        return None

    await with_activation_metrics(replied, metrics)(event())
    await with_activation_metrics(replied, metrics)(event())
    await with_activation_metrics(nothing, metrics)(event())
    assert sample(registry, "botburrow_activations_total", outcome="replied") == 2
    assert sample(registry, "botburrow_activations_total", outcome="none") == 1
    assert sample(registry, "botburrow_activation_duration_seconds_count", outcome="replied") == 2


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (HubUnavailable("down"), "transient_error"),
        (InvalidEvent("data", "missing"), "permanent_error"),
        (RetryLater(1), "retry_later"),
        (ValueError("bug"), "error"),
    ],
)
async def test_a_handler_that_raises_is_counted_by_what_happens_next(
    registry: CollectorRegistry, error: Exception, outcome: str
) -> None:
    metrics = ActivationMetrics(registry)

    async def failing(_event: CloudEvent) -> Outcome:
        raise error

    with pytest.raises(type(error)):
        await with_activation_metrics(failing, metrics)(event())
    assert sample(registry, "botburrow_activations_total", outcome=outcome) == 1
