"""The circuit breaker: 5 failures open it, 60 s doubling to 1 h, one half-open probe."""

from __future__ import annotations

import asyncio

import pytest

from shared.poller import CircuitBreaker
from shared.streams import Redis, StreamKeys
from tests.support import Clock


@pytest.fixture
def breaker(redis: Redis, keys: StreamKeys, clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(redis, prefix=keys.prefix, clock=clock)


async def fail(breaker: CircuitBreaker, times: int, agent: str = "a1") -> None:
    for _ in range(times):
        await breaker.record(agent, ok=False)


async def test_five_consecutive_failures_open_it_for_sixty_seconds(breaker: CircuitBreaker, clock: Clock) -> None:
    await fail(breaker, 4)
    assert await breaker.allow("a1")
    await fail(breaker, 1)
    assert not await breaker.allow("a1")
    assert await breaker.allow("other")  # per agent
    clock.now += 59.9
    assert not await breaker.allow("a1")
    clock.now += 0.2
    assert await breaker.allow("a1")  # the half-open probe


async def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    await fail(breaker, 4)
    await breaker.record("a1", ok=True)
    await fail(breaker, 4)
    assert await breaker.allow("a1")


async def test_exactly_one_half_open_probe_even_when_asked_at_once(breaker: CircuitBreaker, clock: Clock) -> None:
    await fail(breaker, 5)
    clock.now += 61
    answers = await asyncio.gather(*(breaker.allow("a1") for _ in range(20)))
    assert answers.count(True) == 1


async def test_a_failed_probe_reopens_with_doubled_backoff_capped_at_an_hour(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    await fail(breaker, 5)
    backoffs = []
    for _ in range(8):
        state = await breaker.state("a1")
        backoffs.append(float(state["backoff_s"]))
        clock.now = float(state["open_until"]) + 0.01
        assert await breaker.allow("a1")
        await fail(breaker, 1)  # the probe failed
        assert not await breaker.allow("a1")
    assert backoffs == [60, 120, 240, 480, 960, 1920, 3600, 3600]


async def test_a_successful_probe_closes_it(breaker: CircuitBreaker, clock: Clock) -> None:
    await fail(breaker, 5)
    clock.now += 61
    assert await breaker.allow("a1")
    await breaker.record("a1", ok=True)
    assert await breaker.state("a1") == {}
    assert all(await asyncio.gather(*(breaker.allow("a1") for _ in range(3))))


async def test_a_probe_that_never_reports_frees_its_slot(redis: Redis, keys: StreamKeys, clock: Clock) -> None:
    breaker = CircuitBreaker(redis, prefix=keys.prefix, clock=clock, probe_timeout_s=30)
    await fail(breaker, 5)
    clock.now += 61
    assert await breaker.allow("a1")
    clock.now += 29
    assert not await breaker.allow("a1")
    clock.now += 2
    assert await breaker.allow("a1")


def test_nonsense_settings_are_refused(redis: Redis) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(redis, prefix="x", failure_threshold=0)


async def test_in_backoff_while_open_or_half_open_not_once_closed(breaker: CircuitBreaker, clock: Clock) -> None:
    await fail(breaker, 5, agent="open")
    await fail(breaker, 5, agent="probing")
    await fail(breaker, 2, agent="flaky")
    clock.now += 61
    assert await breaker.allow("probing")  # now half-open, its probe out
    await breaker.record("healed", ok=False)
    await breaker.record("healed", ok=True)  # closed again: its hash is gone
    assert await breaker.in_backoff() == {"open": True, "probing": True, "flaky": False}
