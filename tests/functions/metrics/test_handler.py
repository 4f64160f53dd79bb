from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cloudevents.http import CloudEvent
from prometheus_client import CollectorRegistry

from functions.metrics.handler import handler
from local_emulator.hub import DEFAULT_API_KEY, MockHub, MockHubServer
from shared.accounting import ConsumptionOutbox, UsageBook, run_flusher
from shared.errors import InvalidEvent
from shared.events import (
    ActivationCompleted,
    ActivationKind,
    Usage,
    activation_completed,
    activation_requested,
    parse_data,
)
from shared.runtime import Runtime
from shared.settings import HubSettings, Secret, Settings
from shared.streams import Redis, StreamKeys
from tests.support import eventually, hub_client

FINISHED = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
CONSUMPTION = "/api/v1/system/consumption"


@pytest.fixture
def runtime(redis: Redis, keys: StreamKeys, registry: CollectorRegistry, server: MockHubServer) -> Runtime:
    settings = Settings(hub=HubSettings(url=server.url, api_key=Secret(DEFAULT_API_KEY), max_attempts=1))
    return Runtime.over(settings, redis, keys, registry)


def _completed(agent_id: str, *, attempt: int = 1, cost_usd: float = 0.0123) -> CloudEvent:
    return activation_completed(
        activation_id="act-1",
        agent_id=agent_id,
        attempt=attempt,
        outcome="replied",
        duration_ms=1200,
        finished_at=FINISHED,
        usage=Usage(model="claude-sonnet-4-5", input_tokens=900, output_tokens=120, cost_usd=cost_usd),
    )


async def test_completed_events_are_booked_once_and_reported_by_the_flusher(
    runtime: Runtime, hub: MockHub, keys: StreamKeys, redis: Redis
) -> None:
    alice = hub.require_agent("alice")
    async with handler(runtime, flush_interval_s=0.05) as handle:
        first, retry = _completed(alice.id, attempt=1), _completed(alice.id, attempt=2, cost_usd=0.001)
        assert await handle(first) is None
        assert await handle(first) is None  # redelivered: counted once
        assert await handle(retry) is None  # another attempt that spent: its own record
        await eventually(lambda: len(hub.consumption) == 2)
    spend = await UsageBook(redis, keys=keys).spent(alice.id, at=FINISHED)
    assert spend.day_usd == Decimal("0.0133") and spend.day.activations == 2
    assert sorted(r.body["cost_usd"] for r in hub.consumption) == [0.001, 0.0123]
    assert {r.idempotency_key for r in hub.requests if r.path == CONSUMPTION} == {first["id"], retry["id"]}
    assert (
        runtime.registry.get_sample_value(
            "botburrow_tokens_total", {"agent": alice.id, "model": "claude-sonnet-4-5", "kind": "input"}
        )
        == 1800
    )


async def test_what_is_left_is_flushed_on_the_way_out(runtime: Runtime, hub: MockHub) -> None:
    alice = hub.require_agent("alice")
    async with handler(runtime, flush_interval_s=3600) as handle:
        await handle(_completed(alice.id))
        assert hub.consumption == []
    assert [r.body["activation_id"] for r in hub.consumption] == ["act-1"]


async def test_other_event_types_are_invalid(runtime: Runtime) -> None:
    requested = activation_requested(
        agent_id="a1", agent_name="alice", kind=ActivationKind.INBOX, requested_at=FINISHED, notification_ids=["n1"]
    )
    async with handler(runtime, flush_interval_s=3600) as handle:
        with pytest.raises(InvalidEvent) as caught:
            await handle(requested)
    assert caught.value.field == "type"


async def test_completed_events_with_bad_data_or_time_are_invalid(runtime: Runtime) -> None:
    good = _completed("a1")
    bad_data = CloudEvent(dict(good.get_attributes()), {"agent_id": "a1"})
    bad_time = CloudEvent({**good.get_attributes(), "time": "yesterday"}, good.get_data())
    async with handler(runtime, flush_interval_s=3600) as handle:
        with pytest.raises(InvalidEvent):
            await handle(bad_data)
        with pytest.raises(InvalidEvent) as caught:
            await handle(bad_time)
    assert caught.value.field == "time"


async def test_the_flusher_outlives_hub_outages_and_stops_when_cancelled(
    redis: Redis, keys: StreamKeys, server: MockHubServer, hub: MockHub
) -> None:
    alice = hub.require_agent("alice")
    outbox = ConsumptionOutbox(redis, keys=keys)
    book = UsageBook(redis, keys=keys, outbox=outbox)
    await book.record("e1", parse_data(_completed(alice.id), ActivationCompleted), at=FINISHED)
    hub.fail(CONSUMPTION, method="POST", status=503, times=3)
    async with hub_client(server.url, max_attempts=1) as client:
        task = asyncio.create_task(run_flusher(outbox, client, interval_s=0.01))

        async def delivered() -> bool:
            # The Hub has it and the flusher has let go of it (it deletes only after the Hub took it).
            return len(hub.consumption) == 1 and await outbox.size() == 0

        await eventually(delivered)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await outbox.size() == 0
    assert len([r for r in hub.requests if r.path == CONSUMPTION]) == 4
