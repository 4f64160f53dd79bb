"""The runner target over real HTTP: both CloudEvent modes, outcome publication, error statuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cloudevents.http import CloudEvent

from shared import tracing
from shared.events import (
    ACTIVATION_COMPLETED,
    ActivationKind,
    activation_requested,
    from_fields,
    to_http,
)
from shared.streams import Redis, StreamKeys
from tests.shared.serving.conftest import ServeRunner
from tests.support import handlers

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def request_event(agent: str = "agent-1") -> CloudEvent:
    return activation_requested(
        agent_id=agent,
        agent_name="alice",
        kind=ActivationKind.INBOX,
        requested_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        notification_ids=["n-1"],
        traceparent=TRACEPARENT,
    )


def probe_event(**data: object) -> CloudEvent:
    return CloudEvent({"type": "com.example.test", "source": "/tests", "subject": "agent-9"}, dict(data))


async def results(redis: Redis, keys: StreamKeys) -> list[CloudEvent]:
    return [from_fields(fields) for _id, fields in await redis.xrange(keys.results)]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "structured"])
async def test_an_event_is_handled_and_its_outcome_lands_on_the_results_stream(
    serve_runner: ServeRunner, redis: Redis, keys: StreamKeys, binary: bool
) -> None:
    served = serve_runner()
    event = request_event()
    headers, body = to_http(event, binary=binary)
    handlers.SEEN.clear()
    async with served.client() as http:
        response = await http.post("/", headers=headers, content=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    published = await results(redis, keys)
    assert [e["type"] for e in published] == [ACTIVATION_COMPLETED]
    assert published[0].get_data()["activation_id"] == event["id"]
    assert answer == {"id": event["id"], "outcome": [published[0]["id"]], "entries": answer["entries"]}
    assert len(answer["entries"]) == 1
    [seen] = handlers.SEEN  # the handler ran in a span of the event's trace
    assert {k: seen[k] for k in ("event_id", "agent_id")} == {"event_id": event["id"], "agent_id": "agent-1"}
    assert tracing.trace_id(seen["traceparent"]) == tracing.trace_id(TRACEPARENT) and seen["traceparent"] != TRACEPARENT


@pytest.mark.parametrize(
    ("headers", "body", "field"),
    [
        (
            {"ce-id": "e-1", "ce-specversion": "1.0", "ce-type": "t.x", "content-type": "application/json"},
            b'{"note": "PRIVATE-BODY-1"}',
            "source",
        ),
        ({"content-type": "application/cloudevents+json"}, b'{"id": "PRIVATE-BODY-2", "source": ', "event"),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"id": "e", "source": "/s", "type": "t", "specversion": "PRIVATE-BODY-3"}',
            "specversion",
        ),
        ({"content-type": "text/plain", "x-private": "PRIVATE-HEADER"}, b"PRIVATE-BODY-5", "specversion"),
    ],
    ids=["binary-missing-source", "structured-bad-json", "bad-specversion", "not-an-event"],
)
async def test_a_malformed_event_is_a_400_naming_the_field_without_echoing_the_request(
    serve_runner: ServeRunner, redis: Redis, keys: StreamKeys, headers: dict[str, str], body: bytes, field: str
) -> None:
    served = serve_runner()
    async with served.client() as http:
        response = await http.post("/", headers=headers, content=body)  # the token is PRIVATE-… too
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["error"] == "invalid_event" and answer["field"] == field
    assert "PRIVATE" not in response.text
    assert await redis.xlen(keys.results) == 0


@pytest.mark.parametrize(
    ("what", "status", "expected", "retry_after"),
    [
        ("permanent", 422, {"error": "permanent", "kind": "AgentNotFound"}, None),
        ("invalid", 400, {"error": "invalid_event", "field": "data.agent_id", "problem": "field required"}, None),
        ("transient", 503, {"error": "transient", "kind": "HubUnavailable", "retry_after_s": 6.2}, "7"),
        ("retry", 503, {"error": "retry_later", "retry_after_s": 3}, "3"),
        ("crash", 500, {"error": "internal"}, None),
    ],
)
async def test_handler_errors_become_statuses_by_what_the_caller_does_next(
    serve_runner: ServeRunner,
    redis: Redis,
    keys: StreamKeys,
    what: str,
    status: int,
    expected: dict[str, object],
    retry_after: str | None,
) -> None:
    served = serve_runner()
    headers, body = to_http(probe_event(**{"raise": what}), binary=True)
    async with served.client() as http:
        response = await http.post("/", headers=headers, content=body)
    assert response.status_code == status
    answer = response.json()
    assert {k: answer[k] for k in expected} == expected
    assert response.headers.get("retry-after") == retry_after
    assert "hunter2" not in response.text and "internal detail" not in response.text
    if what == "permanent":
        assert "ghost" in answer["problem"]
    assert await redis.xlen(keys.results) == 0


async def test_probes_metrics_and_unknown_routes(serve_runner: ServeRunner) -> None:
    served = serve_runner()
    headers, body = to_http(request_event(), binary=True)
    async with served.client() as http:
        assert (await http.get("/healthz")).json() == {"status": "ok", "function": "runner"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"redis": "ok", "hub": "ok"}
        assert (await http.post("/", headers=headers, content=body)).status_code == 200
        assert (await http.post("/", headers={"content-type": "text/plain"}, content=b"x")).status_code == 400
        missing = await http.get("/nowhere")
        assert missing.status_code in (404, 405) and missing.json()["error"]
        exposition = (await http.get("/metrics")).text
    assert 'botburrow_http_requests_total{route="/",status="200"} 1.0' in exposition
    assert 'botburrow_http_requests_total{route="/",status="400"} 1.0' in exposition
    assert 'botburrow_http_requests_total{route="/readyz",status="200"} 1.0' in exposition
    assert 'botburrow_activations_total{outcome="noop"} 1.0' in exposition
    assert 'botburrow_activation_duration_seconds_count{outcome="noop"} 1.0' in exposition
