"""The retry policy over real HTTP: idempotent retries, 401/403 never retried, Retry-After honoured."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from local_emulator.hub import Dialect, MockHub, MockHubServer
from shared.errors import HubAuthError, HubRejected, HubUnavailable, PermanentError, TransientError
from shared.hub import Consumption, HubClient, RetryPolicy, parse_retry_after
from tests.support import Sleeps, api_requests, hub_client

Write = Callable[[HubClient, MockHub], Awaitable[object]]


async def _post(client: HubClient, hub: MockHub) -> object:
    return await client.create_post("alice", "once only", idempotency_key="evt-1:post")


async def _comment(client: HubClient, hub: MockHub) -> object:
    post = next(iter(hub.content.posts.values()))
    return await client.create_comment("alice", post.id, "once only", idempotency_key="evt-1:comment")


async def _dm(client: HubClient, hub: MockHub) -> object:
    return await client.send_dm("alice", "bob", "once only", idempotency_key="evt-1:dm")


async def _consumption(client: HubClient, hub: MockHub) -> object:
    report = Consumption(activation_id="evt-1", cost_usd=0.5)
    return await client.report_consumption("alice", report, idempotency_key="evt-1:consumption")


def _created(hub: MockHub, kind: str) -> int:
    counts = {
        "post": len(hub.content.posts) - 1,  # minus the post commented on
        "comment": len(hub.content.comments),
        "dm": len(hub.content.dms),
        "consumption": len(hub.consumption),
    }
    return counts[kind]


WRITES: dict[str, tuple[str, Write]] = {
    "post": ("/api/v1/posts", _post),
    "comment": ("/api/v1/posts/*/comments", _comment),
    "dm": ("/api/v1/dms", _dm),
    "consumption": ("/api/v1/system/consumption", _consumption),
}


@pytest.mark.parametrize("failure", ["503", "drop"])
@pytest.mark.parametrize("kind", list(WRITES))
async def test_a_write_retried_after_it_landed_creates_exactly_one_object(
    client: HubClient, hub: MockHub, sleeps: Sleeps, kind: str, failure: str
) -> None:
    """The Hub creates the object, then the answer is lost (503 or a dropped connection):
    the client retries with the same Idempotency-Key and the Hub creates nothing new."""
    hub.human_post("dana", "a post to comment on")
    path, write = WRITES[kind]
    fault = {"status": 503} if failure == "503" else {"drop": True}
    hub.fail(path, method="POST", after=True, **fault)
    await write(client, hub)
    assert _created(hub, kind) == 1
    attempts = [r for r in hub.requests if r.method == "POST"]
    assert len(attempts) == 2
    assert attempts[0].status == (503 if failure == "503" else None)
    assert attempts[1].status in (200, 201)
    assert {r.idempotency_key for r in attempts} == {f"evt-1:{kind}"}
    assert len(sleeps.delays) == 1


async def test_the_replayed_answer_names_the_object_first_created(client: HubClient, hub: MockHub) -> None:
    hub.fail("/api/v1/posts", method="POST", status=502, after=True)
    created = await client.create_post("alice", "x", idempotency_key="evt-2:post")
    [post] = hub.content.posts.values()
    assert created.id == post.id
    again = await client.create_post("alice", "x", idempotency_key="evt-2:post")
    assert again.id == post.id and len(hub.content.posts) == 1


async def test_401_is_never_retried(server: MockHubServer, hub: MockHub, sleeps: Sleeps) -> None:
    async with hub_client(server.url, api_key="wrong-key", sleep=sleeps) as client:
        with pytest.raises(HubAuthError) as caught:
            await client.notifications("alice")
    assert caught.value.status == 401
    assert isinstance(caught.value, PermanentError)
    assert "invalid API key" in str(caught.value)
    assert len(hub.requests) == 1, "exactly one request reached the Hub"
    assert sleeps.delays == []


async def test_403_is_never_retried(server: MockHubServer, hub: MockHub, sleeps: Sleeps) -> None:
    bob_key = hub.require_agent("bob").api_key
    async with hub_client(server.url, api_key=None, agent_keys={"alice": bob_key}, sleep=sleeps) as client:
        with pytest.raises(HubAuthError) as caught:
            await client.mark_activated("alice", idempotency_key="e:1")
    assert caught.value.status == 403
    assert len(hub.requests) == 1 and sleeps.delays == []
    assert hub.require_agent("alice").last_activated_at is None


async def test_an_injected_401_is_not_retried_either(client: HubClient, hub: MockHub, sleeps: Sleeps) -> None:
    hub.fail("/api/v1/notifications", status=401, times=5)
    with pytest.raises(HubAuthError):
        await client.notifications("alice")
    assert len(hub.requests) == 1 and sleeps.delays == []


async def test_429_retry_after_seconds_is_what_the_client_waits(
    client: HubClient, hub: MockHub, sleeps: Sleeps
) -> None:
    hub.fail("/api/v1/posts", method="POST", status=429, retry_after="3")
    await client.create_post("alice", "later", idempotency_key="e:1")
    assert sleeps.delays == [3.0]
    assert len(hub.content.posts) == 1


async def test_429_retry_after_as_an_http_date(client: HubClient, hub: MockHub, sleeps: Sleeps) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=4), usegmt=True)
    hub.fail("/api/v1/notifications", status=429, retry_after=when)
    await client.notifications("alice")
    [delay] = sleeps.delays
    assert 2.0 <= delay <= 4.0


async def test_429_retry_after_is_honoured_in_real_time(server: MockHubServer, hub: MockHub) -> None:
    hub.fail("/api/v1/notifications", status=429, retry_after="1")
    async with HubClient(base_url=server.url, api_key=hub.api_key, backoff_base_s=0.01) as client:
        await client.notifications("alice")
    first, second = api_requests(hub, "/api/v1/notifications")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.95


async def test_a_retry_after_longer_than_the_cap_is_handed_to_the_caller(
    client: HubClient, hub: MockHub, sleeps: Sleeps
) -> None:
    hub.fail("/api/v1/posts", method="POST", status=429, retry_after="600")
    with pytest.raises(HubUnavailable) as caught:
        await client.create_post("alice", "x", idempotency_key="e:1")
    assert (caught.value.status, caught.value.retry_after_s) == (429, 600.0)
    assert isinstance(caught.value, TransientError)
    assert len(hub.requests) == 1 and sleeps.delays == []


async def test_5xx_is_retried_with_growing_backoff_then_given_up(
    server: MockHubServer, hub: MockHub, sleeps: Sleeps
) -> None:
    hub.fail("/api/v1/health", status=500, times=10)
    async with hub_client(server.url, sleep=sleeps, max_attempts=4, backoff_base_s=1.0, backoff_max_s=3.0) as client:
        with pytest.raises(HubUnavailable) as caught:
            await client.health()
    assert caught.value.status == 500 and caught.value.retry_after_s is None
    assert len(hub.requests) == 4
    assert len(sleeps.delays) == 3
    for delay, ceiling in zip(sleeps.delays, (1.0, 2.0, 3.0), strict=True):
        assert ceiling / 2 <= delay <= ceiling


@pytest.mark.parametrize("status", [408, 502, 503, 504])
async def test_other_transient_statuses_are_retried(client: HubClient, hub: MockHub, status: int) -> None:
    hub.fail("/api/v1/health", status=status, times=2)
    assert await client.health() == "ok"
    assert [r.status for r in hub.requests] == [status, status, 200]


async def test_a_dropped_connection_is_retried(client: HubClient, hub: MockHub) -> None:
    hub.fail("/api/v1/notifications", drop=True)
    hub.human_post("dana", "@alice")
    [n] = await client.notifications("alice")
    assert n.type == "mention"
    assert [r.status for r in hub.requests] == [None, 200]


async def test_connection_refused_becomes_hub_unavailable(sleeps: Sleeps) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the client connects
    async with hub_client(f"http://127.0.0.1:{port}", sleep=sleeps, max_attempts=3) as client:
        with pytest.raises(HubUnavailable) as caught:
            await client.health()
    assert caught.value.status is None
    assert "connection failed" in str(caught.value)
    assert len(sleeps.delays) == 2


async def test_a_slow_hub_times_out_into_hub_unavailable(server: MockHubServer, hub: MockHub, sleeps: Sleeps) -> None:
    hub.fail("/api/v1/health", latency_s=0.5, times=2)
    async with hub_client(server.url, sleep=sleeps, timeout_s=0.1, max_attempts=2) as client:
        with pytest.raises(HubUnavailable, match="did not answer in time"):
            await client.health()
    assert len(sleeps.delays) == 1


async def test_other_4xx_fail_with_the_hubs_detail(client: HubClient, hub: MockHub, sleeps: Sleeps) -> None:
    with pytest.raises(HubRejected) as caught:
        await client.create_comment("alice", "no-such-post", "x", idempotency_key="e:1")
    assert caught.value.status == 404 and not isinstance(caught.value, HubAuthError)
    assert str(caught.value) == "POST /posts/no-such-post/comments: the Hub answered 404: no such post"
    with pytest.raises(HubRejected) as invalid:
        await client.create_post("alice", "   ", idempotency_key="e:2")
    assert invalid.value.status == 422 and "content must be a non-empty string" in str(invalid.value)
    assert sleeps.delays == [] and len(hub.requests) == 2


async def test_the_envelope_error_shape_is_explained_too(client: HubClient, hub: MockHub) -> None:
    hub.dialect = Dialect(envelope=True)
    with pytest.raises(HubRejected) as caught:
        await client.get_post("alice", "missing")
    assert "error: no such post; code: not_found" in str(caught.value)


async def test_a_success_false_body_on_2xx_is_a_rejection(client: HubClient, hub: MockHub) -> None:
    hub.fail("/api/v1/posts", method="POST", status=200, body={"success": False, "error": "spam", "hint": "slow down"})
    with pytest.raises(HubRejected, match="error: spam; hint: slow down"):
        await client.create_post("alice", "x", idempotency_key="e:1")


async def test_a_body_that_is_not_json_becomes_hub_unavailable() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>proxy</html>"))
    async with (
        httpx.AsyncClient(transport=transport) as http,
        HubClient(base_url="http://hub", api_key="k", http=http) as client,
    ):
        with pytest.raises(HubUnavailable, match="not JSON"):
            await client.health()


async def test_an_injected_http_client_is_left_open(server: MockHubServer) -> None:
    async with httpx.AsyncClient() as http:
        async with HubClient(base_url=server.url + "/api/v1/", api_key="botburrow-local", http=http) as client:
            assert await client.health() == "ok"
        assert not http.is_closed
        assert (await http.get(server.url + "/api/v1/health")).status_code == 200


async def test_a_call_waiting_to_retry_does_not_hold_up_others(server: MockHubServer, hub: MockHub) -> None:
    gate, waiting = asyncio.Event(), asyncio.Event()

    async def held_sleep(delay_s: float) -> None:
        waiting.set()
        await gate.wait()

    hub.fail("/api/v1/search", status=503)
    async with hub_client(server.url, sleep=held_sleep) as client:
        searching = asyncio.create_task(client.search("alice", "x"))
        await asyncio.wait_for(waiting.wait(), 5)
        assert await client.health() == "ok"
        assert not searching.done()
        gate.set()
        assert await asyncio.wait_for(searching, 5) == []


class TestRetryAfterParsing:
    def test_seconds(self) -> None:
        assert parse_retry_after("7") == 7.0
        assert parse_retry_after(" 1.5 ") == 1.5
        assert parse_retry_after("-3") == 0.0

    def test_http_date(self) -> None:
        now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
        assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
        assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0

    def test_unreadable(self) -> None:
        assert parse_retry_after(None) is None
        assert parse_retry_after("") is None
        assert parse_retry_after("soon") is None


class TestPolicy:
    def test_backoff_doubles_within_jitter_and_is_capped(self) -> None:
        policy = RetryPolicy(max_attempts=5, backoff_base_s=1.0, backoff_max_s=5.0)
        for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
            assert all(ceiling / 2 <= policy.backoff_s(attempt) <= ceiling for _ in range(50))

    def test_retry_after_replaces_backoff_up_to_the_cap(self) -> None:
        policy = RetryPolicy(backoff_max_s=10.0)
        assert policy.delay_s(1, 4.0) == 4.0
        assert policy.delay_s(1, 11.0) is None

    def test_nonsense_settings_are_refused(self) -> None:
        with pytest.raises(ValueError):
            RetryPolicy(max_attempts=0)
