from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from shared.accounting import AccountingKeys, ConsumptionOutbox, UsageBook, from_micro, to_micro
from shared.streams import Redis, StreamKeys
from tests.shared.accounting.helpers import T0, completed


async def test_aggregates_add_up_to_the_exact_micro_dollar(book: UsageBook) -> None:
    events = [
        completed("a1", cost_usd=0.1, input_tokens=100, output_tokens=10, cache_read=5),
        completed("a1", cost_usd=0.2, input_tokens=200, output_tokens=20, cache_write=7, outcome="no_response"),
        completed("a1", cost_usd=0.000123, input_tokens=3, outcome="replied"),
    ]
    for i, event in enumerate(events):
        assert await book.record(f"ev-{i}", event, at=T0 + timedelta(minutes=i))
    spend = await book.spent("a1", at=T0)
    # 0.1 + 0.2 is 0.30000000000000004 in floats; the book keeps integer micro-dollars.
    assert spend.day_usd == Decimal("0.300123")
    assert spend.month_usd == Decimal("0.300123")
    assert spend.day.input_tokens == 303
    assert spend.day.output_tokens == 30
    assert spend.day.cache_write_tokens == 7
    assert spend.day.cache_read_tokens == 5
    assert spend.day.activations == 3
    assert dict(spend.day.outcomes) == {"replied": 2, "no_response": 1}
    other = await book.spent("a2", at=T0)
    assert other.day_usd == 0 and other.day.activations == 0


async def test_the_same_event_twice_is_counted_once(book: UsageBook, outbox: ConsumptionOutbox) -> None:
    event = completed("a1", cost_usd=0.5, input_tokens=10)
    assert await book.record("ev-1", event, at=T0) is True
    assert await book.record("ev-1", event, at=T0) is False
    spend = await book.spent("a1", at=T0)
    assert spend.day_usd == Decimal("0.5")
    assert spend.day.activations == 1
    assert await outbox.size() == 1


async def test_days_and_months_roll_over_by_the_time_given(book: UsageBook) -> None:
    last_of_jan = datetime(2025, 1, 31, 23, 59, tzinfo=UTC)
    first_of_feb = datetime(2025, 2, 1, 0, 1, tzinfo=UTC)
    mid_feb = datetime(2025, 2, 15, 9, 0, tzinfo=UTC)
    await book.record("e1", completed("a1", cost_usd=1.0), at=last_of_jan)
    await book.record("e2", completed("a1", cost_usd=2.0), at=first_of_feb)
    await book.record("e3", completed("a1", cost_usd=4.0), at=mid_feb)
    jan = await book.spent("a1", at=last_of_jan)
    assert (jan.day_usd, jan.month_usd) == (Decimal(1), Decimal(1))
    feb1 = await book.spent("a1", at=first_of_feb)
    assert (feb1.day_usd, feb1.month_usd) == (Decimal(2), Decimal(6))
    feb15 = await book.spent("a1", at=mid_feb)
    assert (feb15.day_usd, feb15.month_usd) == (Decimal(4), Decimal(6))


async def test_a_utc_day_is_used_whatever_the_timezone_of_the_time(book: UsageBook) -> None:
    # 01:00 on the 15th at UTC+2 is 23:00 on the 14th in UTC.
    local = datetime(2025, 3, 15, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    await book.record("e1", completed("a1", cost_usd=1.0), at=local)
    assert (await book.spent("a1", at=datetime(2025, 3, 14, 12, 0, tzinfo=UTC))).day_usd == 1
    assert (await book.spent("a1", at=datetime(2025, 3, 15, 12, 0, tzinfo=UTC))).day_usd == 0
    with pytest.raises(ValueError):
        await book.record("e2", completed("a1", cost_usd=1.0), at=datetime(2025, 3, 15))


async def test_usage_hashes_expire(book: UsageBook, redis: Redis, keys: StreamKeys) -> None:
    await book.record("e1", completed("a1", cost_usd=1.0), at=T0)
    names = AccountingKeys(keys.prefix)
    day_ttl = await redis.ttl(names.usage_day("a1", T0))
    month_ttl = await redis.ttl(names.usage_month("a1", T0))
    assert 39 * 86400 < day_ttl <= 40 * 86400
    assert 399 * 86400 < month_ttl <= 400 * 86400


async def test_only_completions_that_spent_are_queued_for_the_hub(book: UsageBook, outbox: ConsumptionOutbox) -> None:
    await book.record("e1", completed("a1", outcome="noop"), at=T0)
    await book.record("e2", completed("a1", input_tokens=12, outcome="failed"), at=T0)
    assert await outbox.size() == 1
    assert (await book.spent("a1", at=T0)).day.activations == 2


async def test_token_and_cost_metrics_count_each_event_once(book: UsageBook, registry: CollectorRegistry) -> None:
    event = completed("a1", cost_usd=0.25, input_tokens=100, output_tokens=40, cache_read=9, model="m1")
    await book.record("e1", event, at=T0)
    await book.record("e1", event, at=T0)
    value = registry.get_sample_value
    assert value("botburrow_tokens_total", {"agent": "a1", "model": "m1", "kind": "input"}) == 100
    assert value("botburrow_tokens_total", {"agent": "a1", "model": "m1", "kind": "output"}) == 40
    assert value("botburrow_tokens_total", {"agent": "a1", "model": "m1", "kind": "cache_read"}) == 9
    assert value("botburrow_cost_usd_total", {"agent": "a1", "model": "m1"}) == 0.25
    assert value("botburrow_consumption_outbox_size") == 1


def test_micro_dollar_conversion_is_exact() -> None:
    assert to_micro(0.1) + to_micro(0.2) == 300_000
    assert to_micro(0.0000005) == 1
    assert to_micro(Decimal("12.345678")) == 12_345_678
    assert from_micro(300_123) == Decimal("0.300123")


async def test_a_book_without_outbox_still_counts(redis: Redis, keys: StreamKeys) -> None:
    plain = UsageBook(redis, keys=keys)
    assert await plain.record("e1", completed("a1", cost_usd=3.5, input_tokens=1), at=T0)
    assert (await plain.spent("a1", at=T0)).month_usd == Decimal("3.5")
