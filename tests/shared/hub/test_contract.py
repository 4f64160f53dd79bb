"""The Hub client against the mock Hub over HTTP: every endpoint of HUB-CONTRACT.md, both auth modes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from local_emulator.hub import MockHub, MockHubServer
from shared.errors import HubAuthError
from shared.hub import AgentRef, Consumption, HubClient, NotificationType
from tests.support import api_requests, hub_client


def assert_acted_for(hub: MockHub, auth_mode: str, agent: str) -> None:
    """The last request acted for ``agent``, authenticated the way the mode says."""
    last = hub.requests[-1]
    assert last.agent_id == hub.require_agent(agent).id
    if auth_mode == "agent-keys":
        assert last.auth == "agent"
        assert "agent_id" not in last.query
    else:
        assert last.auth == "service"


async def test_notifications_lists_the_unread_inbox(client: HubClient, hub: MockHub, auth_mode: str) -> None:
    post = hub.human_post("dana", "What do you think, @alice?")
    notifications = await client.notifications("alice")
    assert_acted_for(hub, auth_mode, "alice")
    assert hub.requests[-1].query.get("unread") == "true"
    [n] = notifications
    assert n.type is NotificationType.MENTION
    assert n.post_id == post.id
    assert n.sender == AgentRef(id="human-dana", name="dana")
    assert n.content == "What do you think, @alice?"
    assert n.created_at is not None and n.created_at.tzinfo is not None
    assert n.read is False
    assert await client.notifications("bob") == []


async def test_notifications_limit_is_sent(client: HubClient, hub: MockHub) -> None:
    for i in range(3):
        hub.add_notification("alice", "mention", content=str(i))
    assert [n.content for n in await client.notifications("alice", limit=2)] == ["0", "1"]
    assert hub.requests[-1].query["limit"] == "2"


async def test_poll_returns_agents_with_work(client: HubClient, hub: MockHub) -> None:
    hub.human_post("dana", "@alice and @bob, hello")
    hub.human_post("erin", "@bob again")
    work = await client.poll(timeout_s=5, batch_size=10)
    assert work is not None
    assert {(w.name, w.notification_count) for w in work} == {("alice", 1), ("bob", 2)}
    assert {w.id for w in work} == {hub.require_agent("alice").id, hub.require_agent("bob").id}
    assert hub.requests[-1].query == {"timeout": "5", "batch_size": "10"}


async def test_mark_read_clears_the_inbox(client: HubClient, hub: MockHub, auth_mode: str) -> None:
    hub.human_post("dana", "@alice one")
    hub.human_post("dana", "@alice two")
    first, second = await client.notifications("alice")
    await client.mark_read("alice", [first.id], idempotency_key="evt-1:read")
    assert_acted_for(hub, auth_mode, "alice")
    assert hub.requests[-1].idempotency_key == "evt-1:read"
    assert [n.id for n in await client.notifications("alice")] == [second.id]
    assert [n.id for n in await client.notifications("alice", unread=False)] == [first.id, second.id]


async def test_mark_read_of_nothing_sends_nothing(client: HubClient, hub: MockHub) -> None:
    await client.mark_read("alice", [], idempotency_key="evt-1:read")
    assert hub.requests == []


async def test_get_post_with_its_comments(client: HubClient, hub: MockHub, auth_mode: str) -> None:
    post = hub.human_post("dana", "A question", title="Q", community="m/General")
    top = hub.human_comment("erin", post.id, "first")
    answer = hub.create_comment(hub.require_agent("bob").author, post, "an answer", parent_id=top.id)
    got = await client.get_post("alice", post.id)
    assert_acted_for(hub, auth_mode, "alice")
    assert (got.id, got.title, got.content, got.community) == (post.id, "Q", "A question", "general")
    assert got.author == AgentRef(id="human-dana", name="dana")
    assert [(c.id, c.content, c.parent_id) for c in got.comments] == [
        (top.id, "first", None),
        (answer.id, "an answer", top.id),
    ]
    assert got.comments[1].author == AgentRef(id=hub.require_agent("bob").id, name="bob")
    assert (await client.get_post("alice", post.id, include_comments=False)).comments == ()


async def test_create_post_as_the_agent(client: HubClient, hub: MockHub, auth_mode: str) -> None:
    created = await client.create_post(
        "alice", "Hello @bob", title="Hi", community="m/General", idempotency_key="evt-2:post"
    )
    assert_acted_for(hub, auth_mode, "alice")
    stored = hub.content.posts[created.id]
    assert (stored.author.name, stored.title, stored.content, stored.community) == (
        "alice",
        "Hi",
        "Hello @bob",
        "general",
    )
    assert created.author == AgentRef(id=hub.require_agent("alice").id, name="alice")
    assert created.created_at is not None
    [mention] = hub.inbox(hub.require_agent("bob"), unread_only=True)
    assert (mention.type, mention.post_id) == ("mention", created.id)


async def test_create_comment_and_reply(client: HubClient, hub: MockHub, auth_mode: str) -> None:
    post = hub.human_post("dana", "Thoughts?")
    top = await client.create_comment("alice", post.id, "Mine", idempotency_key="evt-3:comment")
    assert_acted_for(hub, auth_mode, "alice")
    reply = await client.create_comment("bob", post.id, "Agreed", parent_id=top.id, idempotency_key="evt-4:comment")
    comments = hub.content.comments_of(post.id)
    assert [(c.id, c.author.name, c.parent_id) for c in comments] == [
        (top.id, "alice", None),
        (reply.id, "bob", top.id),
    ]
    [to_alice] = hub.inbox(hub.require_agent("alice"), unread_only=True)
    assert (to_alice.type, to_alice.comment_id, to_alice.sender) == ("reply", reply.id, hub.require_agent("bob").author)


async def test_send_dm(client: HubClient, hub: MockHub, auth_mode: str) -> None:
    created = await client.send_dm("alice", "bob", "psst", idempotency_key="evt-5:dm")
    assert_acted_for(hub, auth_mode, "alice")
    [dm] = hub.content.dms
    assert (dm.id, dm.sender.name, dm.recipient_id, dm.content) == (
        created.id,
        "alice",
        hub.require_agent("bob").id,
        "psst",
    )
    [notification] = await client.notifications("bob")
    assert (notification.type, notification.content, notification.sender) == (
        NotificationType.DM,
        "psst",
        AgentRef(id=hub.require_agent("alice").id, name="alice"),
    )


async def test_search(client: HubClient, hub: MockHub, auth_mode: str) -> None:
    rust = hub.human_post("dana", "Async Rust is fun", community="rust")
    hub.human_post("erin", "Python async", community="python")
    hub.human_post("dana", "Nothing to see")
    found = await client.search("alice", "async", limit=10)
    assert_acted_for(hub, auth_mode, "alice")
    assert {p.content for p in found} == {"Async Rust is fun", "Python async"}
    assert [p.id for p in await client.search("alice", "async", community="m/Rust")] == [rust.id]
    assert [p.id for p in await client.search("alice", "async", author="dana")] == [rust.id]
    assert hub.requests[-1].query["q"] == "async"


async def test_agents_with_notifications(client: HubClient, hub: MockHub) -> None:
    assert await client.agents_with_notifications() == []
    hub.human_post("dana", "@bob?")
    [work] = await client.agents_with_notifications()
    assert (work.id, work.name, work.notification_count) == (hub.require_agent("bob").id, "bob", 1)
    assert hub.requests[-1].query == {"has_notifications": "true"}


async def test_stale_agents_never_activated_first_then_stalest(client: HubClient, hub: MockHub) -> None:
    hub.add_agent("carol")
    await client.mark_activated("bob", idempotency_key="evt-6:activated")
    hub.advance_clock(60)
    await client.mark_activated("alice", idempotency_key="evt-7:activated")
    hub.advance_clock(60)
    stale = await client.stale_agents(min_staleness_s=30)
    assert [a.name for a in stale] == ["carol", "bob", "alice"]
    assert stale[0].last_activated_at is None
    assert stale[1].last_activated_at is not None and stale[2].last_activated_at is not None
    assert stale[1].last_activated_at < stale[2].last_activated_at
    assert [a.name for a in await client.stale_agents(min_staleness_s=90)] == ["carol", "bob"]
    assert hub.requests[-1].query == {"stale": "true", "min_staleness": "90"}


async def test_mark_activated(client: HubClient, hub: MockHub, auth_mode: str) -> None:
    assert hub.require_agent("alice").last_activated_at is None
    await client.mark_activated("alice", idempotency_key="evt-8:activated")
    assert hub.requests[-1].path == "/api/v1/agents/alice/activated"
    assert hub.requests[-1].auth == ("agent" if auth_mode == "agent-keys" else "service")
    activated = hub.require_agent("alice").last_activated_at
    assert activated is not None and (hub.now() - activated).total_seconds() < 5


async def test_discover(client: HubClient, hub: MockHub, auth_mode: str) -> None:
    rust = hub.human_post("dana", "Borrow checker tips", community="m/rust")
    async_post = hub.human_post("erin", "Async patterns", community="python")
    hub.human_post("erin", "Cooking", community="food")
    own = await client.create_post("alice", "my own rust post", community="rust", idempotency_key="evt-9:post")
    found = await client.discover("alice", communities=["m/Rust"], keywords=["async"], limit=10)
    assert_acted_for(hub, auth_mode, "alice")
    assert [p.id for p in found] == [async_post.id, rust.id], "newest first, never the agent's own"
    assert own.id not in {p.id for p in found}
    query = hub.requests[-1].query
    assert (query["communities"], query["keywords"], query["exclude_responded"]) == ("rust", "async", "true")
    await client.create_comment("alice", rust.id, "tip", idempotency_key="evt-10:comment")
    assert [p.id for p in await client.discover("alice", communities=["rust"], keywords=["async"])] == [async_post.id]
    both = await client.discover("alice", communities=["rust"], exclude_responded=False)
    assert [p.id for p in both] == [rust.id]


async def test_budget_health_follows_consumption_and_overrides(client: HubClient, hub: MockHub) -> None:
    fresh = await client.budget_health("alice")
    assert (fresh.daily_used, fresh.monthly_used, fresh.healthy) == (0.0, 0.0, True)
    assert fresh.daily_limit > 0 and fresh.monthly_limit >= fresh.daily_limit
    assert hub.requests[-1].query["agent_id"] == "alice"
    report = Consumption(activation_id="act-1", tokens_input=1000, tokens_output=200, cost_usd=2.5, model="m")
    await client.report_consumption("alice", report, idempotency_key="act-1:consumption")
    after = await client.budget_health("alice")
    assert (after.daily_used, after.monthly_used) == (2.5, 2.5)
    hub.set_budget("alice", daily_limit=2.0)
    assert (await client.budget_health("alice")).healthy is False


async def test_report_consumption(client: HubClient, hub: MockHub, auth_mode: str) -> None:
    report = Consumption(
        activation_id="act-9",
        tokens_input=1200,
        tokens_output=340,
        cache_read_tokens=50,
        cache_write_tokens=7,
        cost_usd=0.0123,
        model="claude-sonnet",
        duration_seconds=4.5,
        task_type="inbox",
    )
    await client.report_consumption("alice", report, idempotency_key="act-9:consumption")
    assert_acted_for(hub, auth_mode, "alice")
    [record] = hub.consumption
    assert record.agent_id == hub.require_agent("alice").id
    assert record.body == {"agent_id": "alice", **report.model_dump(mode="json")}


async def test_health(client: HubClient) -> None:
    assert await client.health() == "ok"


async def test_every_write_carries_an_idempotency_key(client: HubClient, hub: MockHub) -> None:
    post = await client.create_post("alice", "p", idempotency_key="e:1")
    await client.create_comment("bob", post.id, "c", idempotency_key="e:2")
    await client.send_dm("bob", "alice", "d", idempotency_key="e:3")
    ids = [n.id for n in await client.notifications("alice")]
    await client.mark_read("alice", ids, idempotency_key="e:4")
    await client.mark_activated("alice", idempotency_key="e:5")
    await client.report_consumption("alice", Consumption(activation_id="a"), idempotency_key="e:6")
    writes = [r for r in hub.requests if r.method == "POST"]
    assert [r.idempotency_key for r in writes] == [f"e:{i}" for i in range(1, 7)]
    assert hub.writes_without_idempotency_key == []


async def test_an_empty_idempotency_key_is_refused_before_sending(client: HubClient, hub: MockHub) -> None:
    with pytest.raises(ValueError, match="idempotency_key"):
        await client.create_post("alice", "p", idempotency_key="")
    assert hub.requests == []


async def test_per_agent_keys_alone_cover_every_agent_call(server: MockHubServer, hub: MockHub) -> None:
    keys = {a.name: a.api_key for a in hub.agents.values()}
    async with hub_client(server.url, api_key=None, agent_keys=keys) as client:
        created = await client.create_post("alice", "solo", idempotency_key="e:1")
        assert hub.content.posts[created.id].author.name == "alice"
        assert (await client.budget_health("bob")).healthy is True
        assert {r.auth for r in hub.requests} == {"agent"}
        sent = len(hub.requests)
        with pytest.raises(HubAuthError, match="service key"):
            await client.agents_with_notifications()
        with pytest.raises(HubAuthError, match="no per-agent key"):
            await client.notifications("carol")
        assert len(hub.requests) == sent, "refused locally, nothing sent"


async def test_an_agent_key_is_found_by_id_as_well_as_by_name(server: MockHubServer, hub: MockHub) -> None:
    alice = hub.require_agent("alice")
    async with hub_client(server.url, api_key=None, agent_keys={alice.id: alice.api_key}) as client:
        await client.create_post(alice.id, "by id", idempotency_key="e:1")
    [post] = hub.content.posts.values()
    assert post.author.id == alice.id
    assert api_requests(hub, "/api/v1/posts")[0].auth == "agent"


async def test_timestamps_are_parsed_as_aware_utc(client: HubClient, hub: MockHub) -> None:
    post = hub.human_post("dana", "hi")
    got = await client.get_post("alice", post.id)
    assert got.created_at == post.created_at
    assert got.created_at is not None and got.created_at.utcoffset() == datetime.now(UTC).utcoffset()
