from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from local_emulator.hub import MockHub
from shared.accounting import BudgetGate, BudgetMetrics, LiveSpend, UsageBook
from shared.hub import HubClient
from shared.streams import Redis, StreamKeys
from tests.shared.accounting.helpers import T0, completed
from tests.support import Clock

BUDGET = "/api/v1/system/budget-health"


@pytest.fixture
def clock() -> Clock:
    return Clock(T0.timestamp())


@pytest.fixture
def gate(
    book: UsageBook,
    client: HubClient,
    redis: Redis,
    keys: StreamKeys,
    clock: Clock,
    registry: CollectorRegistry,
) -> BudgetGate:
    return BudgetGate(
        book=book,
        live=LiveSpend(redis, keys=keys),
        hub=client,
        redis=redis,
        keys=keys,
        clock=clock,
        hub_cache_ttl_s=60,
        near_limit_ratio=0.9,
        fallback_daily_limit_usd=Decimal(10),
        fallback_monthly_limit_usd=Decimal(100),
        metrics=BudgetMetrics(registry),
        where="poller",
    )


async def _spend(book: UsageBook, agent_id: str, usd: str, *, event_id: str = "spend") -> None:
    await book.record(event_id, completed(agent_id, cost_usd=float(usd), input_tokens=1), at=T0)


def _budget_calls(hub: MockHub) -> int:
    return len([r for r in hub.requests if r.path == BUDGET])


async def test_allowed_under_the_limits_with_the_larger_of_hub_and_local_spend(
    gate: BudgetGate, book: UsageBook, hub: MockHub
) -> None:
    alice = hub.require_agent("alice")
    hub.set_budget(alice.id, daily_limit=10.0, daily_used=1.0, monthly_limit=200.0, monthly_used=30.0)
    await _spend(book, alice.id, "2.5")
    verdict = await gate.check(alice.id)
    assert verdict.allowed and verdict.reason == "ok" and verdict.source == "hub"
    assert verdict.daily_used_usd == Decimal("2.5")  # local spend the Hub has not heard of yet
    assert verdict.monthly_used_usd == Decimal(30)  # the Hub counts more than this runner did
    assert (verdict.daily_limit_usd, verdict.monthly_limit_usd) == (Decimal(10), Decimal(200))


async def test_refused_over_the_daily_limit_from_local_spend(
    gate: BudgetGate, book: UsageBook, hub: MockHub, registry: CollectorRegistry
) -> None:
    alice = hub.require_agent("alice")
    hub.set_budget(alice.id, daily_limit=10.0, daily_used=0.0, monthly_used=0.0, healthy=True)
    await _spend(book, alice.id, "10")
    verdict = await gate.check(alice.id)
    assert not verdict.allowed and verdict.reason == "daily_limit"
    refused = {"result": "refused", "where": "poller", "reason": "daily_limit"}
    assert registry.get_sample_value("botburrow_budget_checks_total", refused) == 1


async def test_spend_runners_booked_call_by_call_counts_before_the_book_hears_of_it(
    gate: BudgetGate, book: UsageBook, hub: MockHub, redis: Redis, keys: StreamKeys
) -> None:
    alice = hub.require_agent("alice")
    hub.set_budget(alice.id, daily_limit=10.0, daily_used=0.0, monthly_limit=200.0, monthly_used=0.0, healthy=True)
    live = LiveSpend(redis, keys=keys)
    await live.book(alice.id, Decimal("6"), at=T0)
    await _spend(book, alice.id, "4")  # the same calls, as the metrics function books them later
    verdict = await gate.check(alice.id)
    assert verdict.allowed and verdict.daily_used_usd == Decimal(6), "the larger book, not the sum"
    await live.book(alice.id, Decimal("4.5"), at=T0)
    refused = await gate.check(alice.id)
    assert not refused.allowed and refused.reason == "daily_limit" and refused.daily_used_usd == Decimal("10.5")
    assert refused.monthly_used_usd == Decimal("10.5")


async def test_refused_over_the_daily_limit_from_the_hubs_figures(gate: BudgetGate, hub: MockHub) -> None:
    bob = hub.require_agent("bob")
    hub.set_budget(bob.id, daily_limit=5.0, daily_used=5.0, monthly_used=5.0, healthy=True)
    verdict = await gate.check(bob.id)
    assert not verdict.allowed and verdict.reason == "daily_limit"


async def test_refused_over_the_monthly_limit(gate: BudgetGate, hub: MockHub) -> None:
    alice = hub.require_agent("alice")
    hub.set_budget(alice.id, daily_limit=10.0, daily_used=0.5, monthly_limit=50.0, monthly_used=50.0, healthy=True)
    verdict = await gate.check(alice.id)
    assert not verdict.allowed and verdict.reason == "monthly_limit"
    assert verdict.monthly_used_usd == Decimal(50)


async def test_refused_when_the_hub_says_unhealthy(gate: BudgetGate, hub: MockHub) -> None:
    alice = hub.require_agent("alice")
    hub.set_budget(alice.id, daily_used=0.0, monthly_used=0.0, healthy=False)
    verdict = await gate.check(alice.id)
    assert not verdict.allowed and verdict.reason == "hub_unhealthy"


async def test_the_hubs_answer_is_cached_for_the_ttl(gate: BudgetGate, hub: MockHub, clock: Clock) -> None:
    alice = hub.require_agent("alice")
    hub.set_budget(alice.id, daily_used=0.0, monthly_used=0.0)
    assert (await gate.check(alice.id)).source == "hub"
    clock.now += 30
    assert (await gate.check(alice.id)).source == "cache"
    assert _budget_calls(hub) == 1
    clock.now += 31
    hub.set_budget(alice.id, healthy=False)
    verdict = await gate.check(alice.id)
    assert (verdict.source, verdict.reason) == ("hub", "hub_unhealthy")
    assert _budget_calls(hub) == 2


async def test_hub_down_uses_the_last_known_limits_with_a_margin(
    gate: BudgetGate, book: UsageBook, hub: MockHub, clock: Clock
) -> None:
    alice = hub.require_agent("alice")
    hub.set_budget(alice.id, daily_limit=20.0, daily_used=0.0, monthly_used=0.0, healthy=True)
    assert (await gate.check(alice.id)).allowed
    clock.now += 120
    hub.fail(BUDGET, status=503, times=100)
    await _spend(book, alice.id, "17", event_id="s1")
    verdict = await gate.check(alice.id)
    assert verdict.allowed and verdict.source == "stale" and verdict.daily_limit_usd == Decimal(20)
    await _spend(book, alice.id, "1.5", event_id="s2")  # 18.5 ≥ 0.9 * 20: too close while unsure
    verdict = await gate.check(alice.id)
    assert not verdict.allowed and verdict.reason == "daily_limit" and verdict.source == "stale"


async def test_nothing_known_fails_closed_near_the_fallback_cap(
    gate: BudgetGate, book: UsageBook, hub: MockHub
) -> None:
    alice = hub.require_agent("alice")
    hub.fail(BUDGET, drop=True, times=100)
    await _spend(book, alice.id, "8.99", event_id="s1")
    verdict = await gate.check(alice.id)
    assert verdict.allowed and verdict.source == "fallback"
    assert verdict.daily_limit_usd == Decimal(10)
    await _spend(book, alice.id, "0.01", event_id="s2")  # 9.00 = 0.9 * the fallback cap of 10
    verdict = await gate.check(alice.id)
    assert not verdict.allowed and verdict.reason == "daily_limit" and verdict.source == "fallback"


async def test_yesterdays_hub_figures_do_not_count_today(gate: BudgetGate, hub: MockHub, clock: Clock) -> None:
    alice = hub.require_agent("alice")
    hub.set_budget(alice.id, daily_limit=10.0, daily_used=10.0, monthly_used=10.0, healthy=False)
    assert not (await gate.check(alice.id)).allowed
    clock.now += 86400
    hub.fail(BUDGET, status=503, times=100)
    verdict = await gate.check(alice.id)
    assert verdict.allowed and verdict.source == "stale"
    assert verdict.daily_used_usd == 0 and verdict.monthly_used_usd == Decimal(10)


def test_the_margin_must_be_a_ratio(book: UsageBook, client: HubClient, redis: Redis, keys: StreamKeys) -> None:
    with pytest.raises(ValueError):
        BudgetGate(book=book, hub=client, redis=redis, keys=keys, near_limit_ratio=1.5)


def test_a_gate_is_the_pollers_or_the_runners(
    book: UsageBook, client: HubClient, redis: Redis, keys: StreamKeys
) -> None:
    with pytest.raises(ValueError, match="where='ingest'"):
        BudgetGate(book=book, hub=client, redis=redis, keys=keys, where="ingest")


async def test_each_check_counts_once_by_result_and_by_who_asked(
    book: UsageBook,
    client: HubClient,
    redis: Redis,
    keys: StreamKeys,
    hub: MockHub,
    registry: CollectorRegistry,
    clock: Clock,
) -> None:
    alice = hub.require_agent("alice")
    hub.set_budget(alice.id, daily_limit=10.0, daily_used=0.0, monthly_limit=200.0, monthly_used=0.0, healthy=True)
    metrics = BudgetMetrics.on(registry)
    assert BudgetMetrics.on(registry) is metrics, "the poller and the runner in one process share the counter"
    poller = BudgetGate(book=book, hub=client, redis=redis, keys=keys, clock=clock, metrics=metrics, where="poller")
    runner = BudgetGate(book=book, hub=client, redis=redis, keys=keys, clock=clock, metrics=metrics, where="runner")
    assert (await poller.check(alice.id)).allowed
    await _spend(book, alice.id, "10")
    assert not (await runner.check(alice.id)).allowed
    assert not (await runner.check(alice.id)).allowed

    def count(result: str, where: str, reason: str) -> float | None:
        labels = {"result": result, "where": where, "reason": reason}
        return registry.get_sample_value("botburrow_budget_checks_total", labels)

    assert count("allowed", "poller", "ok") == 1
    assert count("refused", "runner", "daily_limit") == 2
    assert count("allowed", "runner", "ok") is None


async def test_checks_side_by_side_share_one_read_that_sees_what_was_booked_before_they_asked(
    gate: BudgetGate,
    hub: MockHub,
    redis: Redis,
    keys: StreamKeys,
    registry: CollectorRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice, bob = hub.require_agent("alice"), hub.require_agent("bob")
    for agent in (alice, bob):
        hub.set_budget(agent.id, daily_limit=10.0, daily_used=0.0, monthly_limit=200.0, monthly_used=0.0)
    pipelines = 0
    pipeline = redis.pipeline

    def counted(*args: object, **kwargs: object) -> object:
        nonlocal pipelines
        pipelines += 1
        return pipeline(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(redis, "pipeline", counted)
    await LiveSpend(redis, keys=keys).book(alice.id, Decimal(10), at=T0)  # one pipeline of its own
    verdicts = await asyncio.gather(*(gate.check(alice.id) for _ in range(8)), gate.check(bob.id))
    assert [v.reason for v in verdicts] == ["daily_limit"] * 8 + ["ok"]
    # the booking, then per agent one read and one write of the Hub's answer to the cache
    assert pipelines == 1 + 2 * 2
    assert _budget_calls(hub) == 2, "one Hub call per agent, not per check"
    refused = {"result": "refused", "where": "poller", "reason": "daily_limit"}
    assert registry.get_sample_value("botburrow_budget_checks_total", refused) == 8, "every check counted"
    # a check asked once that read is sent reads again: a spend booked meanwhile counts
    await gate.check(bob.id)
    assert pipelines == 1 + 2 * 2 + 1
