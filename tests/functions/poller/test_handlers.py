"""The poller function's handlers, built by their factory as a process would build them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cloudevents.http import CloudEvent
from prometheus_client import CollectorRegistry

from functions.poller.handlers import PollerHandlers, handler, ingest_handler, tick_handler
from local_emulator.hub import DEFAULT_API_KEY, MockHub, MockHubServer
from shared.errors import InvalidEvent
from shared.events import ActivationRequested, Priority, data_of, from_fields, notification_created, ping
from shared.runtime import Runtime
from shared.settings import (
    AgentSourceSettings,
    HubSettings,
    PollerSettings,
    RunnerMode,
    RunnerSettings,
    Secret,
    Settings,
)
from shared.streams import Redis, StreamKeys, StreamSettings
from tests.shared.poller.conftest import AGENTS, write_agent

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def hub_agents() -> list[str]:
    return list(AGENTS)


def poller_settings(server: MockHubServer, keys: StreamKeys, agents_dir: Path) -> Settings:
    """Settings for the poller's factories over ``server``, with the ``AGENTS`` written to ``agents_dir``."""
    for name, behavior in AGENTS.items():
        write_agent(agents_dir, name, behavior)
    return Settings(
        hub=HubSettings(url=server.url, api_key=Secret(DEFAULT_API_KEY), max_attempts=1),
        agents=AgentSourceSettings(agents_dir=agents_dir),
        streams=StreamSettings(prefix=keys.prefix),
        runner=RunnerSettings(mode=RunnerMode.NOTIFICATION),
        poller=PollerSettings(poll_interval_s=1.0),
    )


@pytest.fixture
async def handlers(
    server: MockHubServer, redis: Redis, keys: StreamKeys, tmp_path: Path, registry: CollectorRegistry
) -> AsyncIterator[PollerHandlers]:
    runtime = Runtime.over(poller_settings(server, keys, tmp_path), redis, keys, registry)
    async with handler(runtime) as handle:
        assert isinstance(handle, PollerHandlers)
        yield handle


async def activations(redis: Redis, keys: StreamKeys) -> list[ActivationRequested]:
    out = []
    for _id, fields in await redis.xrange(keys.activations(Priority.HIGH)):
        data = data_of(from_fields(fields))
        assert isinstance(data, ActivationRequested)
        out.append(data)
    return out


async def test_a_ping_ticks_for_its_window(
    handlers: PollerHandlers, hub: MockHub, redis: Redis, keys: StreamKeys
) -> None:
    hub.human_post("dana", "hi @alice")
    assert await handlers(ping(at=NOW, window_s=1)) is None
    assert handlers.last_tick is not None and handlers.last_tick.leader
    assert [e.agent_name for e in await activations(redis, keys)] == ["alice"]


async def test_a_pushed_notification_is_ingested(
    handlers: PollerHandlers, hub: MockHub, redis: Redis, keys: StreamKeys
) -> None:
    hub.human_post("dana", "hi @bob")
    bob = hub.agent("bob")
    assert bob is not None
    (note,) = hub.inbox(bob, unread_only=True)
    event = notification_created(
        at=NOW, agent_id=bob.id, notification={"id": note.id, "type": "mention", "agent_id": bob.id}
    )
    assert await handlers(event) is None
    assert [e.notification_ids for e in await activations(redis, keys)] == [[note.id]]
    assert handlers.last_ingest and len(handlers.last_ingest) == 1


async def test_a_nudge_naming_the_agent_only_in_its_subject_is_ingested(
    handlers: PollerHandlers, hub: MockHub, redis: Redis, keys: StreamKeys
) -> None:
    hub.add_notification("alice", "dm", content="psst")
    event = notification_created(at=NOW, notification={"id": "ntf_x", "type": "dm"})
    event["subject"] = "alice"
    await handlers(event)
    assert [e.agent_name for e in await activations(redis, keys)] == ["alice"]


def bad_event(type_: str, data: object) -> CloudEvent:
    attrs = {"type": type_, "source": "/test", "id": "e1", "specversion": "1.0"}
    return CloudEvent(attrs, data)


@pytest.mark.parametrize(
    ("type_", "data", "field"),
    [
        ("dev.knative.sources.ping", {"window_s": -5}, "data.window_s"),
        ("dev.knative.sources.ping", {"window_s": "soon"}, "data.window_s"),
        ("com.botburrow.hub.notification.created", {"type": "mention"}, "data"),
        ("com.botburrow.hub.notification.created", None, "data"),
        ("com.botburrow.something.else", {}, "type"),
    ],
)
async def test_malformed_events_are_invalid(
    handlers: PollerHandlers, redis: Redis, keys: StreamKeys, type_: str, data: object, field: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        await handlers(bad_event(type_, data))
    assert caught.value.field == field
    assert await activations(redis, keys) == []


async def test_the_tick_and_ingest_factories_each_take_their_own_type_only(
    server: MockHubServer, hub: MockHub, redis: Redis, keys: StreamKeys, registry: CollectorRegistry, tmp_path: Path
) -> None:
    """The poller target takes no pushed notification (it is unauthenticated); ingest takes no tick."""
    settings = poller_settings(server, keys, tmp_path)
    runtime = Runtime.over(settings, redis, keys, registry)
    hub.add_notification("alice", "dm", content="psst")
    nudge = notification_created(at=NOW, agent_id="alice", notification={"agent_id": "alice"})
    async with tick_handler(runtime) as ticks:
        with pytest.raises(InvalidEvent) as caught:
            await ticks(nudge)
        assert caught.value.field == "type" and "dev.knative.sources.ping" in caught.value.problem
    # A process builds one factory: the second gets a registry of its own.
    async with ingest_handler(Runtime.over(settings, redis, keys, CollectorRegistry())) as ingest:
        with pytest.raises(InvalidEvent) as caught:
            await ingest(ping(at=NOW, window_s=1))
        assert caught.value.field == "type"
    assert await activations(redis, keys) == []
