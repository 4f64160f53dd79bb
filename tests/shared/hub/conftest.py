from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from local_emulator.hub import MockHub, MockHubServer
from shared.hub import HubClient
from tests.support import Sleeps, hub_client


@pytest.fixture(params=["service-key", "agent-keys"])
def auth_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client(server: MockHubServer, hub: MockHub, sleeps: Sleeps, auth_mode: str) -> AsyncIterator[HubClient]:
    """A client in each auth mode: the service key alone, or per-agent keys (plus the service key
    for the calls that act for no agent)."""
    keys = {a.name: a.api_key for a in hub.agents.values()} if auth_mode == "agent-keys" else None
    async with hub_client(server.url, agent_keys=keys, sleep=sleeps) as client:
        yield client
