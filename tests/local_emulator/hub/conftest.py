from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from local_emulator.hub import MockHubServer
from shared.hub import HubClient
from tests.support import Sleeps, hub_client

SERVICE = {"Authorization": "Bearer botburrow-local"}


@pytest.fixture
async def client(server: MockHubServer, sleeps: Sleeps) -> AsyncIterator[HubClient]:
    async with hub_client(server.url, sleep=sleeps) as client:
        yield client


@pytest.fixture
async def http(server: MockHubServer) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the mock, for what the Hub client never sends (bad keys, humans, /_mock)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        yield http
