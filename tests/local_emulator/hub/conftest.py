from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from local_emulator.hub import MockHub, MockHubServer
from shared.hub import HubClient
from tests.shared.hub.helpers import Sleeps, make_client

SERVICE = {"Authorization": "Bearer botburrow-local"}


@pytest.fixture
def hub() -> MockHub:
    hub = MockHub()
    hub.add_agent("alice")
    hub.add_agent("bob")
    return hub


@pytest.fixture
async def server(hub: MockHub) -> AsyncIterator[MockHubServer]:
    async with MockHubServer(hub) as server:
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(server: MockHubServer, sleeps: Sleeps) -> AsyncIterator[HubClient]:
    async with make_client(server.url, sleep=sleeps) as client:
        yield client


@pytest.fixture
async def http(server: MockHubServer) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the mock, for what the Hub client never sends (bad keys, humans, /_mock)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        yield http
