"""Poller test kit: a real Redis, a mock Hub over HTTP, agents in a tmp directory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from local_emulator.hub import MockHub, MockHubServer
from shared.agents import AgentStore, DirectorySource
from shared.events import ActivationRequested, Priority, data_of, from_fields
from shared.hub import HubClient
from shared.poller import AllowAll, BudgetCheck, CircuitBreaker, Poller, PollerOptions
from shared.settings import PollerSettings
from shared.streams import Redis, StreamKeys
from tests.support import Clock, hub_client

AGENTS: dict[str, dict[str, Any]] = {
    "alice": {},
    "bob": {"respond_to_dms": False, "respond_to_mentions": True},
    "carol": {"discovery": {"enabled": True}},
    "dave": {"respond_to_replies": False},
}


def write_agent(root: Path, name: str, behavior: dict[str, Any]) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    config = {"name": name, "type": "native", "brain": {"model": "m"}, "capabilities": {}, "behavior": behavior}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "system-prompt.md").write_text("You are a test agent.")


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    for name, behavior in AGENTS.items():
        write_agent(tmp_path, name, behavior)
    return tmp_path


@pytest.fixture
def hub_agents() -> list[str]:
    return [*AGENTS, "ghost"]  # ghost: on the Hub, no definition here


@pytest.fixture
def inbox_only(hub: MockHub) -> None:
    """No agent is stale, so a tick queues no discovery turn (the poller always does both jobs)."""
    for name in AGENTS:
        agent = hub.agent(name)
        assert agent is not None
        hub.mark_activated(agent)


@pytest.fixture
async def client(server: MockHubServer) -> AsyncIterator[HubClient]:
    """One try per call, so a fault the test injects reaches the poller."""
    async with hub_client(server.url, max_attempts=1) as client:
        yield client


MakePoller = Callable[..., Poller]


@pytest.fixture
def make_poller(redis: Redis, keys: StreamKeys, client: HubClient, agents_dir: Path) -> MakePoller:
    def make(
        *,
        budget: BudgetCheck | None = None,
        min_interval_s: float = 900.0,
        clock: Callable[[], float] | None = None,
        breaker_clock: Callable[[], float] | None = None,
        holder: str = "p1",
        paused: Callable[[str], Awaitable[bool]] | None = None,
        **options: Any,
    ) -> Poller:
        tick_clock = clock or time.time
        sleep = asyncio.sleep
        if isinstance(clock, Clock):  # a tick's pauses move the test's time, or its poll loop never ends

            async def sleep(seconds: float) -> None:
                clock.advance(seconds)
                await asyncio.sleep(0)

        return Poller(
            redis=redis,
            keys=keys,
            hub=client,
            agents=AgentStore(DirectorySource(agents_dir)),
            breaker=CircuitBreaker(redis, prefix=keys.prefix, clock=breaker_clock or tick_clock),
            budget=budget or AllowAll(),
            settings=PollerSettings(poll_interval_s=1.0, min_activation_interval_s=min_interval_s),
            options=PollerOptions(holder=holder, **{"idle_wait_s": 0.01, "tail_s": 0.0, **options}),
            clock=tick_clock,
            sleep=sleep,
            paused=paused,
        )

    return make


async def requested(redis: Redis, keys: StreamKeys, priority: Priority | None = None) -> list[ActivationRequested]:
    """Every activation request on the activation streams (or one of them), oldest first per stream."""
    out: list[ActivationRequested] = []
    for p in [priority] if priority else list(Priority):
        for _entry_id, fields in await redis.xrange(keys.activations(p)):
            data = data_of(from_fields(fields))
            assert isinstance(data, ActivationRequested)
            out.append(data)
    return out


async def requested_ids(redis: Redis, keys: StreamKeys) -> list[str]:
    ids: list[str] = []
    for p in Priority:
        ids += [str(from_fields(f)["id"]) for _i, f in await redis.xrange(keys.activations(p))]
    return ids
