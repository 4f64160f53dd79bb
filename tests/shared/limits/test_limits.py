"""``BehaviorLimits`` against a real redis-server."""

from __future__ import annotations

import asyncio

import pytest

from shared.agents import Limits
from shared.limits import DAILY_TTL_S, BehaviorLimits, Refusal
from shared.streams import Redis, StreamKeys
from tests.support import Clock


@pytest.fixture
def limits(redis: Redis, keys: StreamKeys, clock: Clock) -> BehaviorLimits:
    return BehaviorLimits(redis, prefix=keys.prefix, clock=clock)


OPEN = Limits(max_daily_posts=3, max_daily_comments=3, max_responses_per_thread=100, min_interval_seconds=0)


async def test_concurrent_reservations_never_exceed_the_daily_count(limits: BehaviorLimits) -> None:
    answers = await asyncio.gather(
        *(limits.reserve(agent_id="a", kind="post", key=f"k{i}", limits=OPEN, activation_id="x") for i in range(20))
    )

    assert sum(a is None for a in answers) == 3
    assert {a.reason for a in answers if a is not None} == {"max_daily_posts"}
    assert await limits.used(agent_id="a", kind="post") == 3


async def test_reservations_side_by_side_after_a_script_flush_load_the_script_again(
    limits: BehaviorLimits, redis: Redis
) -> None:
    assert await limits.reserve(agent_id="a", kind="post", key="k0", limits=OPEN, activation_id="x") is None
    await redis.script_flush()  # a restarted server: the batch's EVALSHA meets NOSCRIPT
    answers = await asyncio.gather(
        *(limits.reserve(agent_id="a", kind="post", key=f"k{i}", limits=OPEN, activation_id="x") for i in range(4))
    )
    assert [a is None for a in answers] == [True, True, True, False], "k0 again is the same reservation"
    assert await limits.used(agent_id="a", kind="post") == 3


async def test_the_same_key_is_counted_once_and_answered_the_same(limits: BehaviorLimits) -> None:
    for _ in range(3):
        assert await limits.reserve(agent_id="a", kind="comment", key="evt:reply:n1", limits=OPEN) is None

    assert await limits.used(agent_id="a", kind="comment") == 1


async def test_dms_count_against_comments(limits: BehaviorLimits) -> None:
    for i in range(3):
        assert await limits.reserve(agent_id="a", kind="dm", key=f"d{i}", limits=OPEN, activation_id="x") is None

    refusal = await limits.reserve(agent_id="a", kind="comment", key="c", limits=OPEN, activation_id="x")

    assert refusal == Refusal(reason="max_daily_comments", limit=3)
    assert "3 comments" in refusal.message and not refusal.temporary


async def test_release_gives_back_the_daily_and_thread_slots(limits: BehaviorLimits) -> None:
    one = Limits(max_daily_posts=5, max_daily_comments=1, max_responses_per_thread=1, min_interval_seconds=0)
    assert await limits.reserve(agent_id="a", kind="comment", key="k1", limits=one, thread_id="p1") is None
    assert await limits.reserve(agent_id="a", kind="comment", key="k2", limits=one, thread_id="p1") is not None

    await limits.release(agent_id="a", kind="comment", key="k1", thread_id="p1")
    await limits.release(agent_id="a", kind="comment", key="k1", thread_id="p1")  # twice: no double undo

    assert await limits.used(agent_id="a", kind="comment") == 0
    assert await limits.used(agent_id="a", kind="comment", thread_id="p1") == 0
    assert await limits.reserve(agent_id="a", kind="comment", key="k2", limits=one, thread_id="p1") is None


async def test_responses_per_thread_are_counted_per_thread(limits: BehaviorLimits) -> None:
    two = Limits(max_daily_posts=5, max_daily_comments=50, max_responses_per_thread=2, min_interval_seconds=0)
    for i in range(2):
        assert await limits.reserve(agent_id="a", kind="comment", key=f"t{i}", limits=two, thread_id="p1") is None

    refusal = await limits.reserve(agent_id="a", kind="comment", key="t9", limits=two, thread_id="p1")
    other = await limits.reserve(agent_id="a", kind="comment", key="u1", limits=two, thread_id="p2")

    assert refusal is not None and refusal.reason == "max_responses_per_thread"
    assert other is None


async def test_min_interval_is_between_activations(limits: BehaviorLimits, clock: Clock) -> None:
    wait = Limits(max_daily_posts=5, max_daily_comments=50, max_responses_per_thread=9, min_interval_seconds=60)
    assert await limits.reserve(agent_id="a", kind="comment", key="a1:1", limits=wait, activation_id="a1") is None
    clock.now += 10
    assert await limits.reserve(agent_id="a", kind="comment", key="a1:2", limits=wait, activation_id="a1") is None

    refusal = await limits.reserve(agent_id="a", kind="comment", key="a2:1", limits=wait, activation_id="a2")
    assert refusal is not None and refusal.reason == "min_interval_seconds" and refusal.temporary
    assert await limits.reserve(agent_id="b", kind="comment", key="b1:1", limits=wait, activation_id="b1") is None
    clock.now += 60
    assert await limits.reserve(agent_id="a", kind="comment", key="a2:1", limits=wait, activation_id="a2") is None


async def test_daily_counters_roll_over_at_utc_midnight_and_expire(
    limits: BehaviorLimits, redis: Redis, keys: StreamKeys, clock: Clock
) -> None:
    one = Limits(max_daily_posts=1, max_daily_comments=1, max_responses_per_thread=9, min_interval_seconds=0)
    assert await limits.reserve(agent_id="a", kind="post", key="p1", limits=one) is None
    assert await limits.reserve(agent_id="a", kind="post", key="p2", limits=one) is not None

    ttl = await redis.ttl(f"{keys.prefix}:limits:a:post:2025-06-15")
    clock.now += 24 * 3600

    assert 0 < ttl <= DAILY_TTL_S
    assert await limits.reserve(agent_id="a", kind="post", key="p2", limits=one) is None


async def test_a_zero_limit_refuses_everything(limits: BehaviorLimits) -> None:
    none = Limits(max_daily_posts=0, max_daily_comments=0, max_responses_per_thread=0, min_interval_seconds=0)

    refusal = await limits.reserve(agent_id="a", kind="post", key="p", limits=none)

    assert refusal is not None and refusal.reason == "max_daily_posts"
    assert await limits.used(agent_id="a", kind="post") == 0


async def test_wait_s_says_how_long_until_another_activation_may_write(limits: BehaviorLimits, clock: Clock) -> None:
    wait = Limits(max_daily_posts=5, max_daily_comments=50, max_responses_per_thread=9, min_interval_seconds=60)
    assert await limits.wait_s(agent_id="a", limits=wait, activation_id="act-1") == 0.0, "never wrote"
    assert (
        await limits.reserve(agent_id="a", kind="comment", key="act-1:c1", limits=wait, activation_id="act-1") is None
    )
    clock.now += 20
    assert await limits.wait_s(agent_id="a", limits=wait, activation_id="act-1") == 0.0, "the writer itself"
    assert await limits.wait_s(agent_id="a", limits=wait, activation_id="act-2") == pytest.approx(40.0)
    assert await limits.wait_s(agent_id="b", limits=wait, activation_id="act-2") == 0.0, "per agent"
    clock.now += 41
    assert await limits.wait_s(agent_id="a", limits=wait, activation_id="act-2") == 0.0
    assert await limits.wait_s(agent_id="a", limits=OPEN, activation_id="act-2") == 0.0, "no interval"
