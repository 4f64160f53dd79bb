"""The Hub's webhook: a binary CloudEvent per created notification, retried, never breaking the Hub."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from local_emulator.hub import MockHub, MockHubServer
from shared import events as ev
from shared.signing import SIGNATURE_HEADER, verify_signature
from tests.support import eventually, hub_client


class Receiver:
    """A small aiohttp server that keeps what it is sent; it can be told to fail first."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.peers: list[object] = []  # the (host, port) each delivery came from: one per connection
        self.fail_next = 0
        self.attempts = 0
        self.answer = b""
        self.answered = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.attempts += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503)
        self.received.append((dict(request.headers), await request.read()))
        self.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        if not self.answer:
            return web.Response(status=202)
        # The body after the headers, in a write of its own (as gunicorn may send it).
        response = web.StreamResponse(status=202)
        response.content_length = len(self.answer)
        await response.prepare(request)
        await asyncio.sleep(0.05)
        await response.write(self.answer)
        await response.write_eof()
        self.answered += 1
        return response


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/events", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/events"
    yield receiver
    await runner.cleanup()


async def test_each_new_notification_arrives_as_a_binary_cloudevent(hub: MockHub, receiver: Receiver) -> None:
    hub.webhook_url = receiver.url
    async with MockHubServer(hub) as server, hub_client(server.url) as client:
        post = await client.create_post("alice", "hello @bob", idempotency_key="e:1")
        await eventually(lambda: len(receiver.received) == 1)
    headers, body = receiver.received[0]
    assert headers["ce-specversion"] == "1.0", "binary mode"
    event = ev.from_http(headers, body)
    bob = hub.require_agent("bob")
    [notification] = hub.notifications
    assert (event["type"], event["subject"], event["source"]) == (ev.NOTIFICATION_CREATED, bob.id, ev.HUB_SOURCE)
    data = ev.data_of(event)
    assert isinstance(data, ev.NotificationCreatedData)
    assert (data.agent_id, data.id, data.type) == (bob.id, notification.id, "mention")
    payload = event.get_data()
    assert payload["post_id"] == post.id
    assert payload["from_agent"] == {"id": hub.require_agent("alice").id, "name": "alice"}
    assert payload["content"] == "hello @bob"


async def test_deliveries_share_one_kept_alive_connection(hub: MockHub, receiver: Receiver) -> None:
    receiver.answer = b"OK"  # a body, as functions-framework answers: read to its end, the connection is reusable
    hub.webhook_url = receiver.url
    async with MockHubServer(hub):
        for _ in range(5):
            hub.add_notification("alice", "follow")
            await eventually(lambda: receiver.answered == len(hub.notifications))  # done before the next starts
    assert len(set(receiver.peers)) == 1, receiver.peers


async def test_a_failing_receiver_is_retried(hub: MockHub, receiver: Receiver) -> None:
    receiver.fail_next = 2
    hub.webhook_url = receiver.url
    async with MockHubServer(hub):
        hub.add_notification("alice", "follow")
        await eventually(lambda: len(receiver.received) == 1)
    assert receiver.attempts == 3


async def test_an_unreachable_receiver_never_breaks_the_hub(hub: MockHub) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        hub.webhook_url = f"http://127.0.0.1:{s.getsockname()[1]}/events"
    async with MockHubServer(hub) as server, hub_client(server.url) as client:
        created = await client.create_post("alice", "@bob", idempotency_key="e:1")
        assert created.id in hub.content.posts
        assert len(hub.notifications) == 1


async def test_no_url_no_delivery(hub: MockHub, receiver: Receiver) -> None:
    async with MockHubServer(hub) as server, hub_client(server.url) as client:
        await client.create_post("alice", "@bob", idempotency_key="e:1")
        hub.webhook_url = receiver.url
        await client.create_post("bob", "@alice", idempotency_key="e:2")
        await eventually(lambda: len(receiver.received) == 1)
    event = ev.from_http(*receiver.received[0])
    assert event["subject"] == hub.require_agent("alice").id


async def test_with_a_secret_every_delivery_is_signed_over_its_exact_body(hub: MockHub, receiver: Receiver) -> None:
    hub.webhook_url = receiver.url
    hub.webhook_secret = "PRIVATE-hook-secret"
    async with MockHubServer(hub) as server, hub_client(server.url) as client:
        await client.create_post("alice", "hello @bob", idempotency_key="e:1")
        await eventually(lambda: len(receiver.received) == 1)
    headers, body = receiver.received[0]
    assert verify_signature("PRIVATE-hook-secret", body, headers[SIGNATURE_HEADER])
    assert not verify_signature("another secret", body, headers[SIGNATURE_HEADER])


async def test_without_a_secret_deliveries_are_unsigned(hub: MockHub, receiver: Receiver) -> None:
    hub.webhook_url = receiver.url
    async with MockHubServer(hub) as server, hub_client(server.url) as client:
        await client.create_post("alice", "hello @bob", idempotency_key="e:1")
        await eventually(lambda: len(receiver.received) == 1)
    assert SIGNATURE_HEADER not in receiver.received[0][0]
