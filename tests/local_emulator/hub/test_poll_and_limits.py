"""Long-poll (event-driven, 404 when absent) and the Hub's rate limits (headers always, refusal on demand)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from local_emulator.hub import HubLimits, MockHub, MockHubServer
from shared.errors import HubUnavailable
from shared.hub import HubClient
from tests.local_emulator.hub.conftest import SERVICE
from tests.support import Clock, Sleeps, eventually, hub_client


class TestLongPoll:
    async def test_returns_at_once_when_work_is_waiting(self, client: HubClient, hub: MockHub) -> None:
        hub.human_post("dana", "@alice")
        started = time.monotonic()
        work = await client.poll(timeout_s=10)
        assert work is not None and [w.name for w in work] == ["alice"]
        assert time.monotonic() - started < 2

    async def test_wakes_when_a_notification_is_created(self, client: HubClient, hub: MockHub) -> None:
        waiting = asyncio.create_task(client.poll(timeout_s=10))
        await eventually(lambda: hub.waiting_polls == 1)
        assert not waiting.done()
        hub.human_post("dana", "wake up @bob")
        work = await asyncio.wait_for(waiting, 5)
        assert work is not None and [(w.name, w.notification_count) for w in work] == [("bob", 1)]

    async def test_times_out_empty(self, client: HubClient, hub: MockHub) -> None:
        started = time.monotonic()
        assert await client.poll(timeout_s=0.3) == []
        assert 0.25 <= time.monotonic() - started < 3

    async def test_batch_size_bounds_the_answer(self, client: HubClient, hub: MockHub) -> None:
        for name in ("carol", "dave", "erin"):
            hub.add_agent(name)
            hub.add_notification(name, "mention")
        work = await client.poll(timeout_s=1, batch_size=2)
        assert work is not None and len(work) == 2

    async def test_a_hub_without_long_poll_answers_404_and_the_client_says_none(
        self, client: HubClient, hub: MockHub, sleeps: Sleeps
    ) -> None:
        hub.long_poll = False
        hub.human_post("dana", "@alice")
        assert await client.poll(timeout_s=5) is None
        assert [r.status for r in hub.requests] == [404] and sleeps.delays == []
        [work] = await client.agents_with_notifications()
        assert work.name == "alice"

    async def test_stopping_the_server_releases_a_waiting_poll(self, hub: MockHub) -> None:
        server = await MockHubServer(hub).start()
        async with hub_client(server.url, max_attempts=1) as client:
            waiting = asyncio.create_task(client.poll(timeout_s=30))
            await eventually(lambda: hub.waiting_polls == 1)
            started = time.monotonic()
            await server.stop()
            result = await asyncio.gather(waiting, return_exceptions=True)
        assert time.monotonic() - started < 3
        assert result[0] == [] or isinstance(result[0], HubUnavailable)


class TestRateLimitHeaders:
    async def test_every_answer_carries_them(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        first = await http.get("/api/v1/agents", headers=SERVICE)
        second = await http.get("/api/v1/agents", headers=SERVICE)
        failed = await http.get("/api/v1/notifications", headers=SERVICE)
        assert first.headers["X-RateLimit-Limit"] == "100"
        assert (first.headers["X-RateLimit-Remaining"], second.headers["X-RateLimit-Remaining"]) == ("99", "98")
        assert failed.status_code == 400 and failed.headers["X-RateLimit-Remaining"] == "97"
        reset = int(first.headers["X-RateLimit-Reset"])
        assert time.time() < reset <= time.time() + 61

    async def test_not_enforced_unless_configured(self, http: httpx.AsyncClient, hub: MockHub) -> None:
        hub.limiter.limits = HubLimits(requests_per_min=2)
        answers = [await http.get("/api/v1/agents", headers=SERVICE) for _ in range(4)]
        assert [a.status_code for a in answers] == [200] * 4
        assert answers[-1].headers["X-RateLimit-Remaining"] == "0"


@pytest.fixture
async def limited() -> tuple[MockHub, Clock]:
    clock = Clock(1_800_000_000.0)
    hub = MockHub(clock=clock, enforce_limits=True, limits=HubLimits(requests_per_min=5))
    hub.add_agent("alice")
    hub.add_agent("bob")
    return hub, clock


class TestEnforcedLimits:
    async def test_requests_per_minute_per_key(self, limited: tuple[MockHub, Clock]) -> None:
        hub, clock = limited
        async with MockHubServer(hub) as server, httpx.AsyncClient(base_url=server.url) as http:
            codes = [(await http.get("/api/v1/agents", headers=SERVICE)).status_code for _ in range(6)]
            assert codes == [200] * 5 + [429]
            refused = await http.get("/api/v1/agents", headers=SERVICE)
            assert refused.headers["Retry-After"] == "60", "the clock stands at the start of a minute"
            other_key = {"Authorization": f"Bearer {hub.require_agent('alice').api_key}"}
            assert (await http.get("/api/v1/agents", headers=other_key)).status_code == 200, "limits are per key"
            clock.now += 60
            assert (await http.get("/api/v1/agents", headers=SERVICE)).status_code == 200

    async def test_one_post_per_half_hour_surfaces_as_retry_after(self, limited: tuple[MockHub, Clock]) -> None:
        hub, _ = limited
        sleeps = Sleeps()
        async with MockHubServer(hub) as server, hub_client(server.url, sleep=sleeps, backoff_max_s=60) as client:
            await client.create_post("alice", "first", idempotency_key="e:1")
            with pytest.raises(HubUnavailable) as caught:
                await client.create_post("alice", "second", idempotency_key="e:2")
            assert (caught.value.status, caught.value.retry_after_s) == (429, 1800.0)
            assert sleeps.delays == [], "a half-hour wait is the caller's to schedule, not slept through"
            await client.create_post("bob", "bob may", idempotency_key="e:3")
            await client.create_post("alice", "replayed, not limited", idempotency_key="e:1")
            hub.advance_clock(1800)
            await client.create_post("alice", "second", idempotency_key="e:2")
        assert [p.content for p in hub.content.posts.values()] == ["first", "bob may", "second"]

    async def test_people_are_not_limited(self, limited: tuple[MockHub, Clock]) -> None:
        hub, _ = limited
        for i in range(3):
            hub.human_post("dana", str(i))
        async with MockHubServer(hub) as server, httpx.AsyncClient(base_url=server.url) as http:
            answer = await http.post("/api/v1/posts", json={"author": "dana", "content": "4"}, headers=SERVICE)
        assert answer.status_code == 201

    async def test_fifty_comments_an_hour(self, limited: tuple[MockHub, Clock]) -> None:
        hub, clock = limited
        hub.limiter.limits = HubLimits(requests_per_min=1000)
        post = hub.human_post("dana", "thread")
        async with MockHubServer(hub) as server, hub_client(server.url, backoff_max_s=10) as client:
            for i in range(50):
                clock.now += 1
                await client.create_comment("alice", post.id, str(i), idempotency_key=f"c:{i}")
            with pytest.raises(HubUnavailable) as caught:
                await client.create_comment("alice", post.id, "51st", idempotency_key="c:50")
            assert caught.value.retry_after_s is not None and 3500 <= caught.value.retry_after_s <= 3600
            clock.now += 3600
            await client.create_comment("alice", post.id, "51st", idempotency_key="c:50")
        assert len(hub.content.comments) == 51
