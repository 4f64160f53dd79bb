"""One leader publishes; a deposed one cannot; the breaker and budget gate activations."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from local_emulator.hub import MockHub
from shared.operator import Controls, Operator, Steering
from shared.poller import Allowed, BudgetVerdictLike, CircuitBreaker, Poller
from shared.streams import Redis, StreamKeys
from tests.shared.poller.conftest import MakePoller, requested, requested_ids
from tests.support import eventually

pytestmark = pytest.mark.usefixtures("inbox_only")  # inbox work only: no stale agent


@dataclass
class Refuse:
    """A budget gate that refuses some agents."""

    refused: set[str]
    asked: list[str] = field(default_factory=list)

    async def check(self, agent_id: str) -> BudgetVerdictLike:
        self.asked.append(agent_id)
        if agent_id in self.refused:
            return Allowed(allowed=False, reason="daily limit reached")
        return Allowed()


@dataclass
class TakeOver:
    """A budget check during which another poller takes the lease over (a stalled leader)."""

    redis: Redis
    lease_key: str

    async def check(self, agent_id: str) -> BudgetVerdictLike:
        await self.redis.set(self.lease_key, "999:usurper")
        return Allowed()


async def test_two_pollers_at_once_only_the_lease_holder_publishes(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    leader = make_poller(holder="p1")
    follower = make_poller(holder="p2")
    leading = asyncio.create_task(leader.tick(window_s=1.0))
    await eventually(lambda: redis.exists(leader.lease.key))
    hub.human_post("dana", "hi @alice")
    second = await follower.tick(window_s=0.5)
    first = await leading
    assert second.leader is False and second.published == [] and second.polled == 0
    assert first.leader and len(first.published) == 1
    assert await requested_ids(redis, keys) == first.published
    assert not await redis.exists(leader.lease.key)  # released at the end of the tick
    assert (await follower.tick(window_s=0.1)).leader  # and then the other may lead


async def test_a_poller_whose_lease_was_taken_over_cannot_publish(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    hub.human_post("dana", "hi @alice")
    poller = make_poller(budget=TakeOver(redis, f"{keys.prefix}:poller:lease"))
    report = await poller.tick(window_s=0.5)
    assert report.lease_lost and report.published == []
    assert await requested_ids(redis, keys) == []
    assert await redis.get(poller.lease.key) == b"999:usurper"  # not released: not ours
    alice = hub.agent("alice")
    assert alice is not None
    assert await poller.queue.unqueued([n.id for n in hub.inbox(alice, unread_only=True)])  # nothing marked queued


async def test_an_open_breaker_skips_the_agent_until_its_probe(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    alice = hub.agent("alice")
    assert alice is not None
    hub.human_post("dana", "hi @alice and @bob")
    clock_s = [1_750_000_000.0]
    poller = make_poller(breaker_clock=lambda: clock_s[0])
    breaker = CircuitBreaker(redis, prefix=keys.prefix, clock=lambda: clock_s[0])
    for _ in range(5):
        await breaker.record(alice.id, ok=False)

    report = await poller.tick(window_s=0.2)
    assert [e.agent_name for e in await requested(redis, keys)] == ["bob"]
    assert report.skipped["breaker_open"] >= 1

    clock_s[0] += 61
    report = await poller.tick(window_s=0.2)
    assert len(report.published) == 1  # the single half-open probe
    assert sorted(e.agent_name for e in await requested(redis, keys)) == ["alice", "bob"]
    assert (await breaker.state(alice.id))["state"] == "half_open"


async def test_a_budget_refusal_skips_without_touching_the_breaker(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    alice = hub.agent("alice")
    assert alice is not None
    for i in range(7):
        hub.human_post("dana", f"hi @alice #{i}")
    gate = Refuse({alice.id})
    poller = make_poller(budget=gate)
    for _ in range(6):  # more refusals than the breaker's threshold
        report = await poller.tick(window_s=0.05)
        assert report.skipped["budget_refused"] >= 1
    assert await requested_ids(redis, keys) == []
    assert alice.id in gate.asked
    breaker = CircuitBreaker(redis, prefix=keys.prefix)
    assert await breaker.state(alice.id) == {} and await breaker.allow(alice.id)
    assert all(not n.read for n in hub.inbox(alice, unread_only=False))  # still waiting for budget

    gate.refused.clear()
    assert len((await poller.tick(window_s=0.05)).published) == 1


async def test_joining_an_activation_already_queued_asks_no_gate(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    gate = Refuse(refused=set())
    poller = make_poller(budget=gate)
    hub.human_post("dana", "hi @alice")
    (opened,) = (await poller.tick(window_s=0.1)).published
    alice = hub.require_agent("alice").id
    assert gate.asked == [alice]
    gate.refused.add(alice)  # over budget now: the runner refuses the activation as it starts
    hub.human_post("erin", "more for @alice")

    report = await poller.tick(window_s=0.1)

    assert report.joined == [opened] and gate.asked == [alice], "the queued activation passed the gate already"
    assert len(await requested(redis, keys)) == 1


async def paused_alice(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> tuple[str, Controls, Poller]:
    """Alice known to the poller and paused by an operator: her Hub id, the controls, a poller honouring pauses."""
    alice = hub.agent("alice")
    assert alice is not None
    controls = Controls(redis, keys=keys, operator=Operator(redis, keys=keys))
    await redis.hset(f"{keys.prefix}:poller:agents", mapping={alice.id: "alice"})
    await controls.pause("alice", who="cli:test")
    return alice.id, controls, make_poller(paused=Steering(redis, keys=keys).is_paused)


async def test_a_paused_agent_is_not_queued_and_its_mention_stays_unread_until_resumed(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    hub.human_post("dana", "hi @alice and @bob")
    alice_id, controls, poller = await paused_alice(hub, redis, keys, make_poller)

    report = await poller.tick(window_s=0.2)
    assert [e.agent_name for e in await requested(redis, keys)] == ["bob"]
    assert report.skipped["paused"] >= 1
    assert [n for n in hub.notifications if n.agent_id == alice_id and not n.read] != []

    await controls.resume("alice", who="cli:test")
    await poller.tick(window_s=0.2)
    assert sorted(e.agent_name for e in await requested(redis, keys)) == ["alice", "bob"]


async def test_an_agent_resumed_during_a_tick_is_queued_by_that_tick(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    """A paused agent is not taken as handled: the tick's next round, after the resume, reads its inbox again."""
    hub.human_post("dana", "hi @alice")
    _, controls, poller = await paused_alice(hub, redis, keys, make_poller)

    tick = asyncio.create_task(poller.tick(window_s=1.5))

    def polls() -> int:
        return len([r for r in hub.requests if r.path.endswith("/poll")])

    await eventually(lambda: polls() >= 2 or None)  # rounds that found alice paused, her unread count unchanged
    await controls.resume("alice", who="cli:test")
    await eventually(lambda: requested_ids(redis, keys), timeout_s=1.5)
    report = await tick

    assert [e.agent_name for e in await requested(redis, keys)] == ["alice"]
    assert report.skipped["paused"] >= 1
