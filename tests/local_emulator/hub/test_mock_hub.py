"""The mock Hub itself: notification fan-out, auth, people who are not agents, idempotency."""

from __future__ import annotations

import re

import httpx
import pytest

from local_emulator.hub import MockHub, mint_agent_key
from shared.hub import HubClient, NotificationType
from tests.local_emulator.hub.conftest import SERVICE


def inbox(hub: MockHub, agent: str) -> list[tuple[str, str | None, str | None]]:
    """(type, sender name, comment id) of the agent's unread notifications."""
    return [
        (n.type, n.sender.name if n.sender else None, n.comment_id)
        for n in hub.inbox(hub.require_agent(agent), unread_only=True)
    ]


class TestNotifications:
    def test_every_known_mention_is_notified_once_and_unknown_names_are_ignored(self, hub: MockHub) -> None:
        hub.add_agent("claude-coder-1")
        hub.human_post("dana", "@alice @Bob @claude-coder-1, and @nobody; @alice again. mail: x@alice.dev")
        assert inbox(hub, "alice") == [("mention", "dana", None)]
        assert inbox(hub, "bob") == [("mention", "dana", None)]
        assert inbox(hub, "claude-coder-1") == [("mention", "dana", None)]

    def test_a_mention_in_the_title_counts(self, hub: MockHub) -> None:
        hub.human_post("dana", "body", title="for @bob")
        assert inbox(hub, "bob") == [("mention", "dana", None)]

    def test_an_agent_is_never_notified_of_itself(self, hub: MockHub) -> None:
        alice = hub.require_agent("alice")
        post = hub.create_post(alice.author, "note to self, @alice")
        hub.create_comment(alice.author, post, "and again @alice")
        assert inbox(hub, "alice") == []

    def test_a_comment_on_an_agents_post_is_a_reply(self, hub: MockHub) -> None:
        post = hub.create_post(hub.require_agent("alice").author, "my post")
        comment = hub.human_comment("dana", post.id, "nice")
        assert inbox(hub, "alice") == [("reply", "dana", comment.id)]

    def test_an_answer_to_an_agents_comment_is_a_reply_to_it_and_to_the_post_author(self, hub: MockHub) -> None:
        post = hub.create_post(hub.require_agent("alice").author, "my post")
        top = hub.create_comment(hub.require_agent("bob").author, post, "bob's view")
        assert inbox(hub, "alice") == [("reply", "bob", top.id)]
        answer = hub.human_comment("dana", post.id, "replying to bob, cc @alice", parent_id=top.id)
        assert inbox(hub, "bob") == [("reply", "dana", answer.id)]
        assert inbox(hub, "alice")[-1] == ("reply", "dana", answer.id), "one notification per agent: reply wins"
        assert len(inbox(hub, "alice")) == 2

    def test_comments_under_a_persons_post_notify_nobody_but_the_mentioned(self, hub: MockHub) -> None:
        post = hub.human_post("dana", "question")
        hub.human_comment("erin", post.id, "no agents here")
        assert inbox(hub, "alice") == [] and inbox(hub, "bob") == []
        hub.human_comment("erin", post.id, "@bob?")
        assert [t for t, _, _ in inbox(hub, "bob")] == ["mention"]

    def test_a_dm_notifies_its_recipient(self, hub: MockHub) -> None:
        hub.send_dm(hub.human("dana"), hub.require_agent("bob"), "hello")
        [n] = hub.inbox(hub.require_agent("bob"), unread_only=True)
        assert (n.type, n.content, n.sender) == ("dm", "hello", hub.human("dana"))

    async def test_agents_created_over_http_notify_each_other(self, client: HubClient, hub: MockHub) -> None:
        post = await client.create_post("alice", "hey @bob", idempotency_key="e:1")
        await client.create_comment("bob", post.id, "hi!", idempotency_key="e:2")
        [to_bob] = await client.notifications("bob")
        [to_alice] = await client.notifications("alice")
        assert (to_bob.type, to_bob.post_id) == (NotificationType.MENTION, post.id)
        assert (to_alice.type, to_alice.sender and to_alice.sender.name) == (NotificationType.REPLY, "bob")


class TestAgents:
    def test_per_agent_keys_have_the_hubs_format_and_differ(self, hub: MockHub) -> None:
        keys = {a.api_key for a in hub.agents.values()}
        assert len(keys) == 2
        assert all(re.fullmatch(r"botburrow_agent_[0-9a-f]{64}", k) for k in keys)
        assert re.fullmatch(r"botburrow_agent_[0-9a-f]{64}", mint_agent_key())

    def test_ids_are_uuids_stable_across_restarts_and_names_are_unique(self, hub: MockHub) -> None:
        assert MockHub().add_agent("alice").id == hub.require_agent("alice").id
        assert hub.add_agent("ALICE") is hub.require_agent("alice")
        assert hub.agent(hub.require_agent("bob").id) is hub.agent("bob")

    async def test_all_agents_are_listed_without_filters(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        hub.add_agent("carol", id="fixed-id")
        hub.human_post("dana", "@carol")
        answer = (await http.get("/api/v1/agents", headers=SERVICE)).json()
        assert [(a["name"], a["notification_count"]) for a in answer["agents"]] == [
            ("alice", 0),
            ("bob", 0),
            ("carol", 1),
        ]
        assert answer["agents"][2]["id"] == "fixed-id"


class TestAuth:
    async def test_a_missing_or_unknown_key_is_401(self, http: httpx.AsyncClient) -> None:
        missing = await http.get("/api/v1/notifications", params={"agent_id": "alice"})
        wrong_key = {"Authorization": "Bearer sk-wrong-key-1234"}
        wrong = await http.get("/api/v1/notifications", params={"agent_id": "alice"}, headers=wrong_key)
        assert (missing.status_code, wrong.status_code) == (401, 401)
        assert missing.json() == {"detail": "missing API key"}
        assert "sk-wrong-key-1234" not in wrong.text, "the key is not echoed"

    async def test_a_per_agent_key_acts_only_for_its_agent(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        alice = {"Authorization": f"Bearer {hub.require_agent('alice').api_key}"}
        own = await http.get("/api/v1/notifications", params={"agent_id": "alice"}, headers=alice)
        other = await http.get("/api/v1/notifications", params={"agent_id": "bob"}, headers=alice)
        posted = await http.post("/api/v1/posts", json={"agent_id": "bob", "content": "x"}, headers=alice)
        assert (own.status_code, other.status_code, posted.status_code) == (200, 403, 403)
        assert hub.content.posts == {}

    async def test_the_service_key_needs_an_agent_that_exists(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        unknown = await http.post("/api/v1/posts", json={"agent_id": "ghost", "content": "x"}, headers=SERVICE)
        nobody = await http.get("/api/v1/notifications", headers=SERVICE)
        assert (unknown.status_code, nobody.status_code) == (404, 400)
        assert hub.content.posts == {}, "an unknown agent_id is not silently a person"

    async def test_the_service_key_may_post_as_a_person(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        key = {**SERVICE, "Idempotency-Key": "human:1"}
        answer = await http.post("/api/v1/posts", json={"author": "dana", "content": "hi @bob"}, headers=key)
        assert answer.status_code == 201
        assert answer.json()["author"] == {"id": "human-dana", "name": "dana"}
        comment = await http.post(
            f"/api/v1/posts/{answer.json()['id']}/comments", json={"author": "erin", "content": "+1"}, headers=SERVICE
        )
        assert comment.status_code == 201
        dm = await http.post(
            "/api/v1/dms", json={"author": "erin", "recipient_id": "bob", "content": "hi"}, headers=SERVICE
        )
        assert dm.status_code == 201
        assert [n.type for n in hub.inbox(hub.require_agent("bob"), unread_only=True)] == ["mention", "dm"]

    async def test_a_per_agent_key_cannot_pose_as_a_person(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        alice = {"Authorization": f"Bearer {hub.require_agent('alice').api_key}"}
        answer = await http.post("/api/v1/posts", json={"author": "dana", "content": "x"}, headers=alice)
        assert answer.status_code == 201
        assert answer.json()["author"]["name"] == "alice"

    async def test_health_needs_no_key(self, http: httpx.AsyncClient) -> None:
        answer = await http.get("/api/v1/health")
        assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


class TestIdempotency:
    async def test_a_repeated_key_replays_the_first_answer(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        headers = {**SERVICE, "Idempotency-Key": "evt:1"}
        first = await http.post("/api/v1/posts", json={"agent_id": "alice", "content": "one"}, headers=headers)
        second = await http.post("/api/v1/posts", json={"agent_id": "alice", "content": "two"}, headers=headers)
        assert first.json() == second.json()
        assert second.headers["Idempotent-Replayed"] == "true"
        assert [p.content for p in hub.content.posts.values()] == ["one"]

    async def test_the_key_is_scoped_to_route_and_caller(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        headers = {**SERVICE, "Idempotency-Key": "evt:1"}
        await http.post("/api/v1/posts", json={"agent_id": "alice", "content": "a"}, headers=headers)
        await http.post("/api/v1/posts", json={"agent_id": "bob", "content": "b"}, headers=headers)
        await http.post(
            "/api/v1/dms", json={"agent_id": "bob", "recipient_id": "alice", "content": "c"}, headers=headers
        )
        assert sorted(p.content for p in hub.content.posts.values()) == ["a", "b"]
        assert len(hub.content.dms) == 1

    async def test_a_failed_write_is_not_remembered(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        headers = {**SERVICE, "Idempotency-Key": "evt:1"}
        bad = await http.post("/api/v1/posts", json={"agent_id": "alice", "content": ""}, headers=headers)
        good = await http.post("/api/v1/posts", json={"agent_id": "alice", "content": "ok"}, headers=headers)
        assert (bad.status_code, good.status_code) == (422, 201)

    async def test_writes_without_a_key_are_recorded(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        await http.post("/api/v1/posts", json={"agent_id": "alice", "content": "a"}, headers=SERVICE)
        await http.post("/api/v1/posts", json={"agent_id": "alice", "content": "a"}, headers=SERVICE)
        await http.get("/api/v1/health")
        assert hub.writes_without_idempotency_key == [("POST", "/api/v1/posts")] * 2
        assert len(hub.content.posts) == 2, "without a key nothing is deduplicated"


class TestValidation:
    @pytest.mark.parametrize(
        ("path", "body", "status"),
        [
            ("/api/v1/posts", {"agent_id": "alice"}, 422),
            ("/api/v1/posts", {"agent_id": "alice", "content": 5}, 422),
            ("/api/v1/posts/nope/comments", {"agent_id": "alice", "content": "x"}, 404),
            ("/api/v1/dms", {"agent_id": "alice", "recipient_id": "ghost", "content": "x"}, 404),
            ("/api/v1/notifications/read", {"agent_id": "alice", "notification_ids": "n1"}, 422),
            ("/api/v1/system/consumption", {"agent_id": "alice", "activation_id": "a", "cost_usd": -1}, 422),
            ("/api/v1/agents/ghost/activated", {}, 404),
        ],
    )
    async def test_bad_writes_are_refused_with_a_detail(
        self, http: httpx.AsyncClient, path: str, body: dict[str, object], status: int
    ) -> None:
        answer = await http.post(path, json=body, headers=SERVICE)
        assert answer.status_code == status
        assert isinstance(answer.json()["detail"], str)

    async def test_a_body_that_is_not_json_is_400(self, http: httpx.AsyncClient) -> None:
        answer = await http.post("/api/v1/posts", content=b"{nope", headers=SERVICE)
        assert answer.status_code == 400

    async def test_an_unknown_path_is_a_json_404(self, http: httpx.AsyncClient) -> None:
        answer = await http.get("/api/v1/unknown", headers=SERVICE)
        assert answer.status_code == 404 and answer.json() == {"detail": "Not Found"}

    async def test_a_comment_may_only_answer_a_comment_of_the_same_post(
        self, http: httpx.AsyncClient, hub: MockHub
    ) -> None:
        one, two = hub.human_post("dana", "1"), hub.human_post("dana", "2")
        other = hub.human_comment("erin", one.id, "on one")
        answer = await http.post(
            f"/api/v1/posts/{two.id}/comments",
            json={"agent_id": "alice", "content": "x", "parent_id": other.id},
            headers=SERVICE,
        )
        assert answer.status_code == 404
