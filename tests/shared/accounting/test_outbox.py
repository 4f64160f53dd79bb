from __future__ import annotations

import json
from decimal import Decimal

from prometheus_client import CollectorRegistry

from local_emulator.hub import MockHub
from shared.accounting import AccountingKeys, ConsumptionOutbox, UsageBook
from shared.hub import Consumption, HubClient
from shared.streams import Redis, StreamKeys
from tests.shared.accounting.helpers import T0, completed

CONSUMPTION = "/api/v1/system/consumption"


async def _record_many(book: UsageBook, agent_id: str, n: int) -> None:
    for i in range(n):
        event = completed(agent_id, activation_id=f"act-{i}", cost_usd=0.001 * (i + 1), input_tokens=10 + i)
        await book.record(f"ev-{i}", event, at=T0)


async def test_flush_reports_each_record_with_the_events_cost(
    book: UsageBook, outbox: ConsumptionOutbox, client: HubClient, hub: MockHub, registry: CollectorRegistry
) -> None:
    alice = hub.require_agent("alice")
    event = completed(
        alice.id,
        activation_id="act-9",
        cost_usd=0.012345,
        input_tokens=1200,
        output_tokens=340,
        cache_write=50,
        cache_read=600,
        model="claude-haiku-4-5",
        duration_ms=2500,
    )
    await book.record("ev-9", event, at=T0)
    assert await outbox.flush(client, max_batch=10) == 1
    assert await outbox.size() == 0
    [record] = hub.consumption
    assert record.agent_id == alice.id
    body = {k: v for k, v in record.body.items() if k != "agent_id"}
    assert body == {
        "activation_id": "act-9",
        "tokens_input": 1200,
        "tokens_output": 340,
        "cache_read_tokens": 600,
        "cache_write_tokens": 50,
        "cost_usd": 0.012345,
        "model": "claude-haiku-4-5",
        "duration_seconds": 2.5,
        "task_type": "inbox",
    }
    [request] = [r for r in hub.requests if r.path == CONSUMPTION]
    assert request.idempotency_key == "ev-9"
    assert registry.get_sample_value("botburrow_consumption_reported_total") == 1
    assert registry.get_sample_value("botburrow_consumption_outbox_size") == 0


async def test_batches_are_flushed_until_the_outbox_is_empty(
    book: UsageBook, outbox: ConsumptionOutbox, client: HubClient, hub: MockHub
) -> None:
    bob = hub.require_agent("bob")
    await _record_many(book, bob.id, 7)
    assert await outbox.flush(client, max_batch=3) == 7
    assert sorted(r.body["activation_id"] for r in hub.consumption) == [f"act-{i}" for i in range(7)]
    total = sum(Decimal(str(r.body["cost_usd"])) for r in hub.consumption)
    assert total == Decimal("0.028")
    assert await outbox.flush(client, max_batch=3) == 0


async def test_a_hub_outage_keeps_the_records_and_a_later_flush_sends_each_once(
    book: UsageBook, outbox: ConsumptionOutbox, client: HubClient, hub: MockHub, registry: CollectorRegistry
) -> None:
    alice = hub.require_agent("alice")
    await _record_many(book, alice.id, 5)
    # Two answers are lost after the Hub stored the record, two are refused before: 503 either way.
    hub.fail(CONSUMPTION, method="POST", status=503, times=2, after=True)
    hub.fail(CONSUMPTION, method="POST", status=503, times=2)
    sent = await outbox.flush(client, max_batch=5)
    assert sent == 1
    assert await outbox.size() == 4
    assert registry.get_sample_value("botburrow_consumption_report_failed_total", {"reason": "unavailable"}) == 4
    assert await outbox.flush(client, max_batch=5) == 4
    assert await outbox.size() == 0
    ids = sorted(r.body["activation_id"] for r in hub.consumption)
    assert ids == [f"act-{i}" for i in range(5)]  # each exactly once: resends replayed by Idempotency-Key


async def test_an_unreachable_hub_keeps_everything(
    book: UsageBook, outbox: ConsumptionOutbox, hub: MockHub, client: HubClient
) -> None:
    alice = hub.require_agent("alice")
    await _record_many(book, alice.id, 3)
    hub.fail(CONSUMPTION, method="POST", drop=True, times=3)
    assert await outbox.flush(client, max_batch=10) == 0
    assert await outbox.size() == 3
    assert hub.consumption == []


async def test_a_rejected_record_is_dead_lettered_with_its_reason(
    book: UsageBook, outbox: ConsumptionOutbox, client: HubClient, hub: MockHub, registry: CollectorRegistry
) -> None:
    alice = hub.require_agent("alice")
    await book.record("ev-ok", completed(alice.id, activation_id="ok", cost_usd=0.5), at=T0)
    # An agent the Hub does not know: 4xx, which no retry can change.
    await book.record("ev-ghost", completed("ghost", activation_id="ghost-act", cost_usd=0.25), at=T0)
    assert await outbox.flush(client, max_batch=10) == 1
    assert await outbox.size() == 0
    [dead] = await outbox.dead()
    assert dead.event_id == "ev-ghost" and dead.agent_id == "ghost"
    assert dead.status is not None and 400 <= dead.status < 500
    assert dead.reason
    assert json.loads(dead.report)["cost_usd"] == 0.25
    assert [r.body["activation_id"] for r in hub.consumption] == ["ok"]
    assert registry.get_sample_value("botburrow_consumption_report_failed_total", {"reason": "rejected"}) == 1
    assert registry.get_sample_value("botburrow_consumption_dead_size") == 1


async def test_an_unreadable_record_is_dead_lettered_not_dropped(
    outbox: ConsumptionOutbox, client: HubClient, redis: Redis, keys: StreamKeys
) -> None:
    await redis.xadd(AccountingKeys(keys.prefix).outbox, {"agent_id": "a1", "report": "{not json"})
    assert await outbox.flush(client, max_batch=10) == 0
    [dead] = await outbox.dead()
    assert "unreadable" in dead.reason and dead.report == "{not json"


async def test_a_second_flusher_waits_for_the_first(
    outbox: ConsumptionOutbox, client: HubClient, hub: MockHub, redis: Redis, keys: StreamKeys
) -> None:
    alice = hub.require_agent("alice")
    await outbox.add(event_id="e1", agent_id=alice.id, report=Consumption(activation_id="a", cost_usd=1.0), at=T0)
    await redis.set(AccountingKeys(keys.prefix).flush_lock, "someone-else", px=10_000)
    assert await outbox.flush(client, max_batch=10) == 0
    assert hub.consumption == []
    await redis.delete(AccountingKeys(keys.prefix).flush_lock)
    assert await outbox.flush(client, max_batch=10) == 1
