"""Hub faults against the whole activation path: outages, timeouts, lost answers, slow answers.

The mock Hub fails for a window (``for_s``) spanning several Hub client retries and pump
redeliveries; the timings are shrunk (Hub timeout 1 s, 3 attempts; pump retries 0.4 s
doubling to 1.5 s) in the proportions of the defaults, so a window that the defaults
survive is survived here. Afterwards each mention has exactly one reply, nothing is
dead-lettered, the streams settle, and each completed attempt is reported once.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.settings import HubSettings, Secret
from tests.support import eventually
from tests.support.faults import (  # noqa: F401
    BreakerWatch,
    System,
    completed,
    consumption_keys,
    faults_stream_settings,
    native_agent,
    system,
)

pytestmark = pytest.mark.slow  # make test-fast leaves it out

WINDOW_S = 3.0
HUB_TIMEOUT_S = 1.0


@pytest.fixture
def system_overrides(keys: Any, server: Any, hub: Any) -> dict[str, Any]:
    return {
        "streams": faults_stream_settings(keys),
        "hub": HubSettings(url=server.url, api_key=Secret(hub.api_key), timeout_s=HUB_TIMEOUT_S, max_attempts=3),
    }


async def settle_watching(world: System, watch: BreakerWatch | None = None, *, timeout_s: float = 40) -> None:
    """Wait for the streams to settle (lag, pending, delayed all 0), sampling the breaker meanwhile."""

    async def check() -> bool:
        if watch is not None:
            await watch.sample()
        return await world.settled()

    await eventually(check, timeout_s=timeout_s, every_s=0.05)


async def one_reply_each(world: System, agent: str, posts: list[str]) -> None:
    replies = await eventually(lambda: len(world.replies_by(agent)) >= len(posts) and world.replies_by(agent))
    assert isinstance(replies, list)
    assert sorted(c.post_id for c in world.replies_by(agent)) == sorted(posts), "exactly one reply per mention"
    assert await world.redis.xlen(world.keys.dlq) == 0, "nothing was dead-lettered"


async def test_a_5xx_outage_of_every_endpoint_is_ridden_out_with_one_reply_and_one_report(
    system: System,  # noqa: F811
) -> None:
    """503 on every ``/api/v1`` endpoint for a window: the poller's tick and the runner's calls retry and
    fail, the pump redelivers, nothing is lost or dead-lettered, and afterwards the mention has exactly one
    reply, the notification is read, and the activation's consumption reaches the Hub once."""
    ana = system.add_agent(native_agent("ana"))
    post = system.hub.human_post("dana", "@ana are you there?")
    await system.tick()  # queued before the outage
    await system.start_metrics()
    system.hub.fail("/api/v1/*", status=503, for_s=WINDOW_S)
    await system.start_runner()
    await system.tick()  # the poller rides the outage out: its Hub errors are logged, never raised

    await one_reply_each(system, "ana", [post.id])
    await settle_watching(system)
    failed = [r for r in system.hub.requests if r.status == 503]
    assert len({r.path for r in failed}) >= 2, "the outage hit more than one endpoint"
    assert len(failed) >= 4, "several attempts met the outage"
    [done] = await completed(system, ana)
    assert done.outcome == "replied"
    runner_calls = [r for r in failed if r.agent_id == ana or r.query.get("agent_id") in (ana, "ana")]
    assert len(runner_calls) > 3, "more than one delivery's Hub attempts (3 each) met the outage"
    assert all(n.read for n in system.hub.notifications if n.agent_id == ana)
    await eventually(lambda: sum(consumption_keys(system).values()) == 1)
    assert [c.body["activation_id"] for c in system.hub.consumption] == [done.activation_id]


async def test_answers_slower_than_the_hub_timeout_are_retried_until_the_hub_is_fast_again(
    system: System,  # noqa: F811
) -> None:
    """Latency beyond ``HUB_TIMEOUT_S`` on every endpoint for a window: each call times out and is retried
    (a timed-out write that lands late is replayed by its Idempotency-Key), and afterwards the mention has
    exactly one reply and one consumption report."""
    ana = system.add_agent(native_agent("ana"))
    post = system.hub.human_post("dana", "@ana slow day?")
    await system.tick()
    await system.start_metrics()
    system.hub.fail("/api/v1/*", latency_s=HUB_TIMEOUT_S + 0.5, for_s=WINDOW_S)
    await system.start_runner()

    await one_reply_each(system, "ana", [post.id])
    await settle_watching(system)
    inbox = [r for r in system.hub.requests if r.method == "GET" and r.path == "/api/v1/notifications"]
    assert len(inbox) >= 3, "the runner's inbox read timed out and was retried (once is enough without faults)"
    [done] = await completed(system, ana)
    assert done.outcome == "replied"
    await eventually(lambda: sum(consumption_keys(system).values()) == 1)
    assert len(system.hub.consumption) == 1


async def test_a_reply_whose_answer_is_lost_lands_once_and_the_breaker_counts_then_closes(
    system: System,  # noqa: F811
) -> None:
    """The reply POST lands but its connection is reset before the answer (``after`` + ``drop``), for a window
    spanning every Hub retry of an attempt: the attempt fails, the breaker counts it (below its threshold, so
    the agent is never skipped), the pump redelivers, the Idempotency-Key makes the Hub return the same
    comment, and the success closes the breaker. Exactly one comment; each attempt that spent is reported
    to the Hub once."""
    ana = system.add_agent(native_agent("ana"))
    post = system.hub.human_post("dana", "@ana please answer once")
    system.hub.fail(f"/api/v1/posts/{post.id}/comments", method="POST", drop=True, after=True, for_s=WINDOW_S)
    await system.tick()
    await system.start_metrics()
    await system.start_runner()
    watch = BreakerWatch(system, ana)

    await one_reply_each(system, "ana", [post.id])
    await settle_watching(system, watch)
    posts = [r for r in system.hub.requests if r.method == "POST" and r.path.endswith("/comments")]
    assert len(posts) >= 3 and posts[0].status is None, "answers were lost, and the POST was retried"
    assert len({r.idempotency_key for r in posts}) == 1, "every retry, across deliveries, reused the key"
    assert len(system.replies_by("ana")) == 1
    events = await completed(system, ana)
    assert events[-1].outcome == "replied"
    assert events[-1].comments == [system.replies_by("ana")[0].id], "the replayed POST returned the same comment"
    assert [e.outcome for e in events[:-1]] == ["failed"] * (len(events) - 1)
    assert watch.max_failures >= 1 and "open" not in watch.states, "counted, below the threshold of 5"
    assert await watch.breaker.state(ana) == {}, "the success closed the breaker and forgot the failures"
    spent = [e for e in events if e.usage.cost_usd > 0]
    await eventually(lambda: sum(consumption_keys(system).values()) == len(spent))
    assert all(n == 1 for n in consumption_keys(system).values()), "no attempt reported twice"
    assert {c.body["activation_id"] for c in system.hub.consumption} == {events[0].activation_id}


async def test_consumption_reports_lost_on_the_way_back_are_resent_and_recorded_once(
    system: System,  # noqa: F811
) -> None:
    """The consumption POST lands but its answer is lost, four times over: the outbox resends under
    the same Idempotency-Key until the Hub answers, and the Hub holds exactly one record per activation."""
    ana = system.add_agent(native_agent("ana"))
    posts = [system.hub.human_post("dana", f"@ana question {n}").id for n in range(2)]
    # More lost answers than one flush's Hub attempts (3): the outbox itself must send again.
    system.hub.fail("/api/v1/system/consumption", method="POST", drop=True, after=True, times=4)
    await system.tick()
    await system.start_metrics()
    await system.start_runner()

    await one_reply_each(system, "ana", posts)
    await settle_watching(system)
    events = await completed(system, ana)
    await eventually(lambda: len(system.hub.consumption) >= len(events), timeout_s=20)
    ids = [c.body["activation_id"] for c in system.hub.consumption]
    assert sorted(ids) == sorted(e.activation_id for e in events), "one record per activation, none twice"
    dropped = [r for r in system.hub.requests if r.path.endswith("/system/consumption") and r.status is None]
    assert dropped, "the fault did lose answers"


async def test_an_outage_longer_than_the_retries_is_answered_at_the_next_tick_after_it(
    system: System,  # noqa: F811
) -> None:
    """A Hub outage that outlasts every redelivery dead-letters the activation, but not the
    mention: its notifications are released on the last delivery, so the first tick after the
    outage queues it again (rather than 30 minutes later, when its queued marker lapses), and
    it gets exactly one reply."""
    system.add_agent(native_agent("ana"))
    post = system.hub.human_post("dana", "@ana still there after the outage?")
    await system.tick()
    system.hub.fail("/api/v1/*", status=503, for_s=60)
    await system.start_runner()
    await eventually(lambda: system.redis.xlen(system.keys.dlq), timeout_s=40)
    assert not system.replies_by("ana")
    system.hub.faults.clear()

    await system.tick()
    await eventually(lambda: system.replies_by("ana"), timeout_s=30)
    await settle_watching(system)
    assert [c.post_id for c in system.replies_by("ana")] == [post.id], "exactly one reply"
