"""The tick's inbox path: mentions become one activation per agent, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import warnings
from pathlib import Path

import pytest

from local_emulator.hub import MockHub
from shared.events import ActivationKind, Priority, activation_id
from shared.poller import Sealer
from shared.streams import Redis, StreamKeys
from tests.shared.poller.conftest import MakePoller, requested, requested_ids, write_agent
from tests.support import eventually

pytestmark = pytest.mark.usefixtures("inbox_only")  # inbox work only: no stale agent


async def test_mentions_become_one_activation_per_agent_with_their_ids(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    p1 = hub.human_post("dana", "hi @alice and @bob")
    hub.human_post("erin", "@alice again")
    alice, bob = hub.agent("alice"), hub.agent("bob")
    assert alice and bob
    alice_ids = sorted(n.id for n in hub.inbox(alice, unread_only=True))
    assert len(alice_ids) == 2 and p1

    report = await make_poller().tick(window_s=0.3)

    assert report.leader and report.long_poll is True
    events = await requested(redis, keys, Priority.HIGH)
    by_agent = {e.agent_name: e for e in events}
    assert sorted(by_agent) == ["alice", "bob"] and len(events) == 2
    assert by_agent["alice"].notification_ids == alice_ids
    assert by_agent["alice"].agent_id == alice.id and by_agent["alice"].kind is ActivationKind.INBOX
    expected = activation_id(agent_id=alice.id, kind=ActivationKind.INBOX, notification_ids=alice_ids)
    assert expected in report.published
    assert await requested(redis, keys, Priority.NORMAL) == []
    assert all(not n.read for n in hub.inbox(alice, unread_only=False))  # read only once handled


async def test_the_same_work_is_queued_once_and_only_new_notifications_later(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    hub.human_post("dana", "hi @alice")
    poller = make_poller()
    first = await poller.tick(window_s=0.2)
    second = await poller.tick(window_s=0.2)
    assert len(first.published) == 1 and second.published == []
    assert second.skipped["already_queued"] >= 1

    await Sealer(redis, keys, ttl_s=60)(agent_id=alice_id(hub), priority=Priority.HIGH, event_id=first.published[0])
    hub.human_post("erin", "more for @alice")
    third = await poller.tick(window_s=0.2)
    events = await requested(redis, keys)
    assert len(third.published) == 1 and len(events) == 2  # the first had started: a new one
    assert set(events[0].notification_ids).isdisjoint(events[1].notification_ids)


def alice_id(hub: MockHub) -> str:
    alice = hub.agent("alice")
    assert alice is not None
    return alice.id


async def test_replies_are_normal_priority_and_unwanted_types_are_marked_read(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    reply = hub.add_notification("alice", "reply", content="re")
    follow = hub.add_notification("alice", "follow")
    like = hub.add_notification("alice", "like")
    dm = hub.add_notification("bob", "dm", content="psst")  # bob: respond_to_dms false
    dave_reply = hub.add_notification("dave", "reply")  # dave: respond_to_replies false

    report = await make_poller().tick(window_s=0.2)

    events = await requested(redis, keys)
    assert [(e.agent_name, e.notification_ids) for e in events] == [("alice", [reply.id])]
    assert await requested(redis, keys, Priority.NORMAL) == events
    assert follow.read and like.read and dm.read and dave_reply.read and not reply.read
    assert report.marked_read == 4
    keyed = [r for r in hub.requests if r.path.endswith("/notifications/read")]
    assert keyed and not hub.writes_without_idempotency_key


async def test_an_agent_without_a_definition_is_skipped(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    hub.human_post("dana", "@ghost are you there? @alice")
    report = await make_poller().tick(window_s=0.2)
    assert [e.agent_name for e in await requested(redis, keys)] == ["alice"]
    assert report.skipped["unknown_agent"] >= 1


async def test_without_long_poll_the_plain_query_is_used(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    hub.long_poll = False
    hub.human_post("dana", "hi @alice")
    report = await make_poller().tick(window_s=0.2)
    assert report.long_poll is False and len(report.published) == 1
    polls = [r for r in hub.requests if r.path.endswith("/notifications/poll")]
    plain = [r for r in hub.requests if r.path.endswith("/agents") and r.query.get("has_notifications") == "true"]
    assert [r.status for r in polls] == [404] and plain


async def test_a_long_poll_wakes_the_tick_when_a_mention_arrives(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    poller = make_poller()
    tick = asyncio.create_task(poller.tick(window_s=30.0))
    await eventually(lambda: hub.waiting_polls == 1)  # the tick is parked in the Hub's long-poll
    assert not tick.done() and await requested_ids(redis, keys) == []
    hub.human_post("dana", "wake up @alice")
    # Well inside the 30 s window (and the Hub's 25 s poll timeout): the long-poll answered, not a timer.
    await eventually(lambda: requested_ids(redis, keys), timeout_s=10)
    tick.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await tick


async def test_a_tick_cancelled_while_agents_wait_for_a_slot_leaves_no_coroutine_unawaited(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller, agents_dir: Path
) -> None:
    names = [f"crowd-{i}" for i in range(20)]  # more agents with work than a tick runs at once (16)
    for name in names:
        write_agent(agents_dir, name, {})
        hub.add_agent(name)
        hub.human_post("dana", f"hi @{name}")
    stall = hub.fail("/api/v1/notifications", method="GET", latency_s=30, times=len(names))
    tick = asyncio.create_task(make_poller().tick(window_s=30))
    await eventually(lambda: stall.times == len(names) - 16)  # 16 stalled in flight, 4 waiting for a slot
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tick.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tick
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []


async def test_new_notifications_join_the_activation_waiting_on_the_stream_until_it_starts(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    poller = make_poller()
    seal = Sealer(redis, keys, ttl_s=60)
    hub.human_post("dana", "hi @alice")
    (opened,) = (await poller.tick(window_s=0.1)).published
    hub.human_post("erin", "more for @alice")
    hub.human_post("fay", "and @alice once more")

    second = await poller.tick(window_s=0.1)

    assert second.published == [] and second.joined == [opened]
    assert len(await requested(redis, keys)) == 1, "no second activation while the first waits"
    unread = sorted(n.id for n in hub.inbox(hub.require_agent("alice"), unread_only=True))
    carried = await seal(agent_id=alice_id(hub), priority=Priority.HIGH, event_id=opened)
    assert carried == unread, "the started activation carries its own and the joined notifications"
    assert await seal(agent_id=alice_id(hub), priority=Priority.HIGH, event_id=opened) == carried, "a retry: the same"

    hub.human_post("gus", "late for @alice")
    third = await poller.tick(window_s=0.1)
    assert len(third.published) == 1 and third.joined == []
    assert await seal(agent_id=alice_id(hub), priority=Priority.HIGH, event_id=third.published[0]) == [
        n.id for n in hub.inbox(hub.require_agent("alice"), unread_only=True) if n.id not in carried
    ]


async def test_a_full_open_activation_is_sealed_as_it_stands_and_the_newcomer_opens(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    poller = make_poller(max_notifications=2)
    seal = Sealer(redis, keys, ttl_s=60)
    hub.human_post("dana", "hi @alice")
    (opened,) = (await poller.tick(window_s=0.1)).published
    hub.human_post("erin", "two for @alice")
    assert (await poller.tick(window_s=0.1)).joined == [opened]
    hub.human_post("fay", "three for @alice")
    third = await poller.tick(window_s=0.1)
    hub.human_post("gus", "four for @alice")
    fourth = await poller.tick(window_s=0.1)
    hub.add_notification("alice", "reply", content="re")
    fifth = await poller.tick(window_s=0.1)

    assert third.joined == [] and len(third.published) == 1, "full at two: the third opens its own"
    assert fourth.joined == third.published, "and the fourth joins that one"
    assert fifth.joined == [] and len(fifth.published) == 1, "a reply does not join a mention's activation"
    assert [len(e.notification_ids) for e in await requested(redis, keys, Priority.HIGH)] == [1, 1]
    assert len(await requested(redis, keys, Priority.NORMAL)) == 1
    first_two = await seal(agent_id=alice_id(hub), priority=Priority.HIGH, event_id=opened)
    last_two = await seal(agent_id=alice_id(hub), priority=Priority.HIGH, event_id=third.published[0])
    assert len(first_two) == 2 and len(last_two) == 2 and not set(first_two) & set(last_two)
    hub.human_post("hal", "five for @alice")
    assert (await poller.tick(window_s=0.1)).joined == [], "both started: the next opens anew"


async def test_an_inbox_larger_than_max_iterations_is_split_into_activations(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    for i in range(25):
        hub.human_post("dana", f"@alice number {i}")  # alice answers at most 10 per activation

    report = await make_poller().tick(window_s=0.1)

    events = await requested(redis, keys, Priority.HIGH)
    assert sorted(len(e.notification_ids) for e in events) == [5, 10, 10] and len(report.published) == 3
    assert len({n for e in events for n in e.notification_ids}) == 25


async def test_a_tick_reaches_every_agent_with_work_when_more_wait_than_a_long_poll_lists(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller, agents_dir: Path
) -> None:
    """The Hub lists the agents waiting longest first, and they stay unread until answered:
    with more agents than a long-poll's batch, the batch alone would list the same ones every time."""
    names = [f"crowd-{i}" for i in range(7)]
    for name in names:
        write_agent(agents_dir, name, {})
        hub.add_agent(name)
        hub.human_post("dana", f"hi @{name}")

    report = await make_poller(batch_size=3).tick(window_s=0.5)

    assert sorted(e.agent_name for e in await requested(redis, keys)) == sorted(names)
    assert len(report.published) == 7


async def test_a_mention_after_one_answered_is_queued_by_the_same_tick_whatever_the_unread_count(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    """The unread count says nothing of which notifications: one answered and a new one leave it at 1,
    and the tick still queues the new one (a skip keyed on the count once missed it until the next tick)."""
    hub.human_post("dana", "hi @alice")
    tick = asyncio.create_task(make_poller().tick(window_s=1.5))
    await eventually(lambda: requested_ids(redis, keys))
    alice = hub.agent("alice")
    assert alice is not None
    for note in hub.inbox(alice, unread_only=True):  # her runner answered: read
        note.read = True
    hub.human_post("erin", "more for @alice")  # unread: 1 again, a different one
    report = await tick

    assert len(report.published) + len(report.joined) == 2, "the second mention was queued in the tick"
