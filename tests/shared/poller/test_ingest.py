"""Ingest: a pushed notification (or a bare nudge) is queued at once, once."""

from __future__ import annotations

import pytest

from local_emulator.hub import MockHub
from shared.errors import InvalidEvent
from shared.events import NotificationCreatedData, Priority
from shared.streams import Redis, StreamKeys
from tests.shared.poller.conftest import MakePoller, requested, requested_ids

pytestmark = pytest.mark.usefixtures("inbox_only")  # inbox work only: no stale agent


async def test_a_pushed_notification_is_published_at_once_and_once(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    hub.human_post("dana", "hi @alice")
    alice = hub.agent("alice")
    assert alice is not None
    (note,) = hub.inbox(alice, unread_only=True)
    data = NotificationCreatedData.model_validate({"id": note.id, "type": "mention", "agent_id": alice.id})
    poller = make_poller()

    published = await poller.ingest(data)  # the name is learned from the Hub: nothing cached yet

    assert not [r for r in hub.requests if r.path.endswith("/notifications")], "the pushed one is not fetched again"
    events = await requested(redis, keys, Priority.HIGH)
    assert [(e.agent_name, e.notification_ids) for e in events] == [("alice", [note.id])]
    assert published == await requested_ids(redis, keys)
    assert await poller.ingest(data) == []  # pushed twice (webhook retry): queued once
    assert (await poller.tick(window_s=0.1)).published == []  # and the tick agrees
    assert len(await requested_ids(redis, keys)) == 1


async def test_a_bare_nudge_fetches_the_agents_unread_notifications(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    dm = hub.add_notification("alice", "dm", content="psst")
    reply = hub.add_notification("alice", "reply", content="re")
    published = await make_poller().ingest(NotificationCreatedData(agent_id="alice"))
    (event,) = await requested(redis, keys)
    assert len(published) == 1 and sorted(event.notification_ids) == sorted([dm.id, reply.id])
    assert event.priority is Priority.HIGH


async def test_a_pushed_notification_the_agent_does_not_answer_is_marked_read(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    follow = hub.add_notification("alice", "follow")
    data = NotificationCreatedData.model_validate({"id": follow.id, "type": "follow", "agent_id": "alice"})
    assert await make_poller().ingest(data) == []
    assert follow.read and await requested_ids(redis, keys) == []


async def test_a_pushed_notification_of_a_type_we_do_not_know_fetches_the_inbox(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    dm = hub.add_notification("alice", "dm", content="psst")
    data = NotificationCreatedData.model_validate({"id": "n-new", "type": "hologram", "agent_id": "alice"})
    assert len(await make_poller().ingest(data)) == 1
    (event,) = await requested(redis, keys)
    assert event.notification_ids == [dm.id]


async def test_unwanted_and_unknown_pushes_publish_nothing(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    follow = hub.add_notification("alice", "follow")
    poller = make_poller()
    assert await poller.ingest(NotificationCreatedData(agent_id="alice")) == []
    assert follow.read
    assert await poller.ingest(NotificationCreatedData(agent_id="no-such-agent-id")) == []
    hub.add_notification("ghost", "mention")
    assert await poller.ingest(NotificationCreatedData(agent_id="ghost")) == []
    assert await requested_ids(redis, keys) == []


async def test_a_notification_naming_no_agent_is_invalid(make_poller: MakePoller) -> None:
    with pytest.raises(InvalidEvent) as caught:
        await make_poller().ingest(NotificationCreatedData(id="ntf_1"))
    assert caught.value.field == "data.agent_id"


async def test_an_agents_name_is_looked_up_once_per_process_then_kept(
    hub: MockHub, redis: Redis, keys: StreamKeys, make_poller: MakePoller
) -> None:
    """An id names one agent for good: once a process has met it, a webhook asks neither Redis nor the Hub."""
    alice = hub.agent("alice")
    assert alice is not None
    names = f"{keys.prefix}:poller:agents"
    await redis.hset(names, alice.id, "alice")
    met, fresh = make_poller(), make_poller()
    hub.add_notification("alice", "dm", content="psst")
    assert await met.ingest(NotificationCreatedData(agent_id=alice.id))  # learned from the hash
    await redis.delete(names)

    def listings() -> int:
        return len([r for r in hub.requests if r.path.endswith("/agents")])

    before = listings()
    hub.add_notification("alice", "dm", content="again")
    assert await met.ingest(NotificationCreatedData(agent_id=alice.id))  # joins the open activation as alice
    assert listings() == before, "the process that met alice asked the Hub who she is"
    await fresh.ingest(NotificationCreatedData(agent_id=alice.id))
    assert listings() == before + 1  # one that has not met her asks the Hub
