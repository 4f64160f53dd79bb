"""Injected faults as the mock serves them, and the ``/_mock`` control API over HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from local_emulator.hub import Dialect, MockHub
from shared.hub import HubClient, NotificationType
from tests.local_emulator.hub.conftest import SERVICE


class TestFaults:
    async def test_status_retry_after_and_body_for_the_next_n_matching_requests(
        self, http: httpx.AsyncClient, hub: MockHub
    ) -> None:
        hub.fail("/api/v1/agents*", method="GET", status=503, times=2, retry_after="7", body={"detail": "busy"})
        first = await http.get("/api/v1/agents", headers=SERVICE)
        assert (first.status_code, first.headers["Retry-After"], first.json()) == (503, "7", {"detail": "busy"})
        assert first.headers["X-RateLimit-Limit"] == "100"
        assert (await http.get("/api/v1/health")).status_code == 200, "other paths are untouched"
        assert (await http.post("/api/v1/agents/alice/activated", headers=SERVICE)).status_code == 200
        assert (await http.get("/api/v1/agents", headers=SERVICE)).status_code == 503
        assert (await http.get("/api/v1/agents", headers=SERVICE)).status_code == 200

    async def test_a_dropped_connection_gets_no_answer(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        hub.fail("/api/v1/health", drop=True)
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/api/v1/health")
        assert (await http.get("/api/v1/health")).status_code == 200
        assert [r.status for r in hub.requests] == [None, 200]

    async def test_after_runs_the_handler_first(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        hub.fail("/api/v1/posts", method="POST", status=500, after=True)
        answer = await http.post("/api/v1/posts", json={"agent_id": "alice", "content": "x"}, headers=SERVICE)
        assert answer.status_code == 500
        assert len(hub.content.posts) == 1

    async def test_latency(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        hub.fail("/api/v1/health", latency_s=0.3)
        started = time.monotonic()
        assert (await http.get("/api/v1/health")).status_code == 200
        assert time.monotonic() - started >= 0.28
        started = time.monotonic()
        await http.get("/api/v1/health")
        assert time.monotonic() - started < 0.28, "only the next request was slowed"

    async def test_a_window_fails_every_matching_request_until_it_closes(
        self, http: httpx.AsyncClient, hub: MockHub
    ) -> None:
        """With ``for_s`` every matching request fails while the window is open (no count), then none does."""
        hub.fail("/api/v1/agents*", method="GET", status=503, for_s=30)
        statuses = [(await http.get("/api/v1/agents", headers=SERVICE)).status_code for _ in range(7)]
        assert statuses == [503] * 7
        assert (await http.get("/api/v1/health")).status_code == 200, "other paths are untouched"
        assert [f.id for f in hub.active_faults()] == [hub.faults[0].id]
        hub.advance_clock(30.5)
        assert (await http.get("/api/v1/agents", headers=SERVICE)).status_code == 200
        assert hub.active_faults() == []

    async def test_a_window_of_dropped_writes_lands_each_write_and_answers_none(
        self, http: httpx.AsyncClient, hub: MockHub
    ) -> None:
        """``after`` + ``drop`` in a window: each write lands, each answer is lost, until the window ends."""
        hub.fail("/api/v1/posts", method="POST", drop=True, after=True, for_s=10)
        for n in range(3):
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post("/api/v1/posts", json={"agent_id": "alice", "content": f"p{n}"}, headers=SERVICE)
        assert len(hub.content.posts) == 3
        hub.advance_clock(10)
        answer = await http.post("/api/v1/posts", json={"agent_id": "alice", "content": "p3"}, headers=SERVICE)
        assert answer.status_code == 201

    def test_times_and_for_s_are_exclusive_and_positive(self, hub: MockHub) -> None:
        """A fault is a count or a window, never both, and neither may be zero."""
        with pytest.raises(ValueError, match="not both"):
            hub.fail("/x", status=500, times=2, for_s=5)
        with pytest.raises(ValueError, match="for_s"):
            hub.fail("/x", status=500, for_s=0)
        with pytest.raises(ValueError, match="times"):
            hub.fail("/x", status=500, times=0)
        assert hub.faults == []

    async def test_the_envelope_dialect_shapes_errors(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        hub.dialect = Dialect(envelope=True)
        answer = await http.get("/api/v1/notifications", headers=SERVICE)
        body = answer.json()
        assert answer.status_code == 400
        assert (body["success"], body["code"]) == (False, "bad_request")
        assert body["error"] and body["hint"]


class TestControl:
    async def test_agents_people_and_notifications_over_http(
        self, http: httpx.AsyncClient, client: HubClient, hub: MockHub
    ) -> None:
        carol = (await http.post("/_mock/agents", json={"name": "carol"})).json()
        assert carol["api_key"].startswith("botburrow_agent_") and hub.agent("carol") is not None
        listed = (await http.get("/_mock/agents")).json()["agents"]
        assert [a["name"] for a in listed] == ["alice", "bob", "carol"]
        post = (
            await http.post("/_mock/posts", json={"author": "dana", "content": "@carol hi", "community": "m/x"})
        ).json()
        assert post["community"] == "x"
        reply = await http.post(f"/_mock/posts/{post['id']}/comments", json={"author": "erin", "content": "@carol +1"})
        assert reply.status_code == 201
        injected = await http.post("/_mock/notifications", json={"agent": "carol", "type": "follow", "from": "bob"})
        assert injected.json()["from_agent"]["name"] == "bob"
        raw = await http.post("/_mock/notifications", json={"agent": "carol", "raw": {"type": "mention"}})
        assert raw.status_code == 201
        kinds = [n.type for n in await client.notifications("carol")]
        assert kinds == [NotificationType.MENTION, NotificationType.MENTION, NotificationType.FOLLOW]

    async def test_faults_over_http(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        fault = await http.post("/_mock/faults", json={"path": "/api/v1/health", "status": 502, "times": 1})
        assert fault.status_code == 201
        assert (await http.get("/api/v1/health")).status_code == 502
        await http.post("/_mock/faults", json={"path": "/api/v1/health", "status": 502, "times": 3})
        assert len((await http.get("/_mock/state")).json()["faults"]) == 1
        await http.delete("/_mock/faults")
        assert (await http.get("/api/v1/health")).status_code == 200
        bad = await http.post("/_mock/faults", json={"path": "/x", "explode": True})
        assert bad.status_code == 422
        wrong_type = await http.post("/_mock/faults", json={"path": "/x", "status": "500"})
        assert wrong_type.status_code == 422 and hub.faults == []

    async def test_a_fault_window_over_http(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        """``for_s`` over HTTP opens a window the state lists until it closes; with ``times`` it is a 422."""
        added = await http.post("/_mock/faults", json={"path": "/api/v1/health", "status": 503, "for_s": 5})
        assert added.status_code == 201 and added.json()["for_s"] == 5 and added.json()["until"] is not None
        assert [(await http.get("/api/v1/health")).status_code for _ in range(3)] == [503, 503, 503]
        assert len((await http.get("/_mock/state")).json()["faults"]) == 1
        await http.post("/_mock/clock", json={"advance_s": 5})
        assert (await http.get("/api/v1/health")).status_code == 200
        assert (await http.get("/_mock/state")).json()["faults"] == []
        both = await http.post("/_mock/faults", json={"path": "/x", "status": 500, "times": 2, "for_s": 5})
        assert both.status_code == 422 and "not both" in both.text
        wrong = await http.post("/_mock/faults", json={"path": "/x", "status": 500, "for_s": "5"})
        assert wrong.status_code == 422

    async def test_budget_config_clock_state_and_reset(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        budget = await http.put("/_mock/budget/alice", json={"daily_used": 9.5, "daily_limit": 9.0})
        assert budget.json()["healthy"] is False
        config = await http.put(
            "/_mock/config",
            json={"long_poll": False, "enforce_limits": True, "dialect": {"envelope": True, "sender": "from"}},
        )
        assert config.json()["config"]["dialect"] == {
            "envelope": True,
            "sender": "from",
            "text": "content",
            "list_key": None,
        }
        assert hub.long_poll is False and hub.enforce_limits is True
        before = hub.now()
        await http.post("/_mock/clock", json={"advance_s": 3600})
        assert (hub.now() - before).total_seconds() >= 3600
        hub.human_post("dana", "@bob")
        state = (await http.get("/_mock/state")).json()
        assert (len(state["posts"]), len(state["notifications"])) == (1, 1)
        assert state["notifications"][0]["agent_id"] == hub.require_agent("bob").id
        await http.post("/_mock/reset", json={})
        state = (await http.get("/_mock/state")).json()
        assert (state["posts"], state["notifications"], len(state["agents"])) == ([], [], 2)
        await http.post("/_mock/reset", json={"agents": True})
        assert hub.agents == {}

    async def test_stats_count_what_state_lists(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        post = hub.human_post("dana", "@bob and @alice")
        hub.human_comment("erin", post.id, "a person's comment")
        await http.post(
            "/api/v1/posts/" + post.id + "/comments",
            json={"agent_id": "bob", "content": "an agent's reply"},
            headers={"Authorization": f"Bearer {hub.api_key}", "Idempotency-Key": "k1"},
        )
        stats = (await http.get("/_mock/stats")).json()
        state = (await http.get("/_mock/state")).json()
        assert stats == {
            "posts": len(state["posts"]),
            "comments": len(state["comments"]),
            "agent_comments": 1,
            "dms": 0,
            "notifications": len(state["notifications"]),
            "consumption": 0,
        }
        assert (stats["comments"], stats["notifications"]) == (2, 2)  # the two mentions

    async def test_the_request_log_never_holds_a_key(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        key = hub.require_agent("alice").api_key
        await http.get("/api/v1/notifications", headers={"Authorization": f"Bearer {key}"})
        log = await http.get("/_mock/requests")
        [record] = log.json()["requests"]
        assert (record["auth"], record["agent_id"], record["status"]) == ("agent", hub.require_agent("alice").id, 200)
        assert key not in log.text
