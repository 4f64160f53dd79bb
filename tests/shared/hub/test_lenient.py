"""The tolerance of HUB-CONTRACT.md: other dialects, unknown types and bad records never fail a batch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from structlog.testing import capture_logs

from local_emulator.hub import Dialect, MockHub
from shared.errors import HubUnavailable
from shared.hub import AgentRef, HubClient, NotificationType, normalize_community

DIALECTS = {
    "contract": Dialect(),
    "envelope": Dialect(envelope=True),
    "list-under-data": Dialect(list_key="data"),
    "envelope-data": Dialect(envelope=True, list_key="data"),
    "from": Dialect(sender="from"),
    "from-agent-id": Dialect(sender="from_agent_id"),
    "content-preview": Dialect(text="content_preview"),
    "all-at-once": Dialect(envelope=True, list_key="data", sender="from", text="content_preview"),
}


@pytest.fixture(params=list(DIALECTS))
def dialect(request: pytest.FixtureRequest, hub: MockHub) -> Dialect:
    hub.dialect = DIALECTS[str(request.param)]
    return hub.dialect


async def test_every_read_parses_in_every_dialect(client: HubClient, hub: MockHub, dialect: Dialect) -> None:
    post = hub.human_post("dana", "Hey @alice, rust?", title="T", community="rust")
    hub.human_comment("erin", post.id, "me too")
    [n] = await client.notifications("alice")
    assert (n.type, n.post_id, n.content) == (NotificationType.MENTION, post.id, "Hey @alice, rust?")
    if dialect.sender == "from_agent_id":
        assert n.sender == AgentRef(id="human-dana")
    elif dialect.sender == "from":
        assert n.sender == AgentRef(id="human-dana", name="dana", kind="human")
    else:
        assert n.sender == AgentRef(id="human-dana", name="dana")
    got = await client.get_post("alice", post.id)
    assert (got.id, got.title, got.content, got.community) == (post.id, "T", "Hey @alice, rust?", "rust")
    assert [c.content for c in got.comments] == ["me too"]
    assert [p.id for p in await client.search("alice", "rust")] == [post.id]
    assert [p.id for p in await client.discover("alice", communities=["rust"])] == [post.id]
    assert [(w.name, w.notification_count) for w in await client.agents_with_notifications()] == [("alice", 1)]
    work = await client.poll(timeout_s=1)
    assert work is not None and [w.name for w in work] == ["alice"]
    assert {a.name for a in await client.stale_agents(min_staleness_s=0)} == {"alice", "bob"}
    assert (await client.budget_health("alice")).healthy is True
    assert await client.health() == "ok"


async def test_every_write_parses_in_every_dialect(client: HubClient, hub: MockHub, dialect: Dialect) -> None:
    post = await client.create_post("alice", "p", idempotency_key="e:1")
    assert post.id in hub.content.posts and post.author is not None and post.author.name == "alice"
    comment = await client.create_comment("bob", post.id, "c", idempotency_key="e:2")
    assert comment.id == hub.content.comments[0].id
    dm = await client.send_dm("bob", "alice", "d", idempotency_key="e:3")
    assert dm.id == hub.content.dms[0].id and dm.created_at is not None


async def test_unknown_notification_types_are_skipped(client: HubClient, hub: MockHub) -> None:
    hub.add_notification("alice", "poke", content="?")
    follow = hub.add_notification("alice", "follow")
    hub.add_notification("alice", "")
    update = hub.add_notification("alice", "thread-update", content="new comment")
    notifications = await client.notifications("alice")
    assert [(n.id, n.type) for n in notifications] == [
        (follow.id, NotificationType.FOLLOW),
        (update.id, NotificationType.THREAD_UPDATE),
    ]


async def test_one_malformed_record_is_skipped_and_the_rest_load(client: HubClient, hub: MockHub) -> None:
    good = hub.add_notification("alice", "mention", content="fine")
    hub.add_raw_notification("alice", {"type": "mention", "content": "no id"})
    hub.add_raw_notification("alice", {"id": {"nested": True}, "type": "reply"})
    hub.add_raw_notification("alice", {"id": "n-odd", "type": "reply", "from_agent": {}, "created_at": "yesterday"})
    last = hub.add_notification("alice", "dm", content="also fine")
    notifications = await client.notifications("alice")
    assert [n.id for n in notifications] == [good.id, "n-odd", last.id]
    odd = notifications[1]
    assert (odd.sender, odd.created_at, odd.content) == (None, None, ""), "unreadable optional fields become unknown"


def _transport(body: Any) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, content=orjson.dumps(body)))


@pytest.mark.parametrize(
    "body",
    [
        {"notifications": None},
        {"success": True, "data": None},
        {"success": True, "data": {"notifications": None}},
        {"success": True},
        None,
        [],
    ],
)
async def test_null_or_missing_lists_are_empty(body: Any) -> None:
    async with (
        httpx.AsyncClient(transport=_transport(body)) as http,
        HubClient(base_url="http://hub.test", api_key="k", http=http) as client,
    ):
        assert await client.notifications("a") == []


async def test_a_bare_list_and_extra_fields_are_accepted() -> None:
    body = [
        {
            "id": 7,
            "type": "MENTION",
            "from_agent_id": "u-1",
            "from_agent_name": "zed",
            "content_preview": "hi",
            "created_at": 1_767_225_600,
            "is_read": True,
            "priority": "high",
        }
    ]
    async with (
        httpx.AsyncClient(transport=_transport(body)) as http,
        HubClient(base_url="http://hub.test", api_key="k", http=http) as client,
    ):
        [n] = await client.notifications("a")
    assert (n.id, n.type, n.content, n.read) == ("7", NotificationType.MENTION, "hi", True)
    assert n.sender == AgentRef(id="u-1", name="zed")
    assert n.created_at == datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_post_in_another_dialect() -> None:
    body = {
        "success": True,
        "post": {
            "id": "p1",
            "author_id": "u-9",
            "author_name": "dana",
            "content_preview": "text",
            "submolt": "m/Rust-Lang",
            "created_at": "2026-01-01T00:00:00Z",
            "comments": [
                {
                    "id": "c1",
                    "author": {"id": "u-2", "name": "erin"},
                    "content": "top",
                    "replies": [
                        {"id": "c2", "author": {"id": "u-3", "name": "finn"}, "content": "nested"},
                    ],
                },
                "not a comment",
                {"id": "c3", "author": None, "content": "anonymous"},
            ],
        },
    }
    async with (
        httpx.AsyncClient(transport=_transport(body)) as http,
        HubClient(base_url="http://hub.test", api_key="k", http=http) as client,
    ):
        post = await client.get_post("a", "p1")
    assert (post.id, post.content, post.community) == ("p1", "text", "rust-lang")
    assert post.author == AgentRef(id="u-9", name="dana")
    assert post.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert [(c.id, c.parent_id, c.post_id) for c in post.comments] == [
        ("c1", None, "p1"),
        ("c2", "c1", "p1"),
        ("c3", None, "p1"),
    ]


async def test_an_unreadable_single_object_is_hub_unavailable() -> None:
    async with (
        httpx.AsyncClient(transport=_transport({"success": True, "post": {"title": "no id"}})) as http,
        HubClient(base_url="http://hub.test", api_key="k", http=http) as client,
    ):
        with pytest.raises(HubUnavailable, match="unexpected response shape"):
            await client.get_post("a", "p1")


async def test_budget_health_without_healthy_is_derived() -> None:
    body = {"daily_limit": "5", "daily_used": 5.0, "monthly_limit": 100, "monthly_used": 1}
    async with (
        httpx.AsyncClient(transport=_transport(body)) as http,
        HubClient(base_url="http://hub.test", api_key="k", http=http) as client,
    ):
        health = await client.budget_health("a")
    assert (health.daily_limit, health.healthy) == (5.0, False)


@pytest.mark.parametrize(
    ("written", "bare"),
    [("m/general", "general"), ("general", "general"), (" M/Rust-Lang ", "rust-lang"), ("/m/ai_safety", "ai_safety")],
)
def test_community_names_are_normalised(written: str, bare: str) -> None:
    assert normalize_community(written) == bare


async def test_only_the_notifications_asked_for_are_parsed() -> None:
    body = {
        "notifications": [
            {"id": "n1", "type": "mention", "content": "one"},
            {"id": "n2", "type": "hologram"},  # logged as unknown, were it parsed
            {"id": 3, "type": "dm", "content": "three"},
            "not a record",
        ]
    }
    async with (
        httpx.AsyncClient(transport=_transport(body)) as http,
        HubClient(base_url="http://hub.test", api_key="k", http=http) as client,
    ):
        with capture_logs() as logs:
            found = await client.notifications("a", only={"3", "n1"})
    assert [(n.id, n.content) for n in found] == [("n1", "one"), ("3", "three")]
    assert [e["event"] for e in logs if e["event"] != "hub.request"] == [], "the others are not even parsed"
