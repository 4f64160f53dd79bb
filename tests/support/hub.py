"""The mock Hub and the Hub client as tests use them: one way to build each."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from local_emulator.hub import DEFAULT_API_KEY, MockHub, RequestRecord
from shared.hub import HubClient


def mock_hub(*agents: str, **options: Any) -> MockHub:
    """An in-memory Hub (service key ``botburrow-local``; ``options`` as ``MockHub`` takes them)
    with ``agents`` registered, in order."""
    hub = MockHub(**options)
    for name in agents:
        hub.add_agent(name)
    return hub


class Sleeps:
    """An injected ``sleep`` that records what the client asked for and waits no time at all."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)
        await asyncio.sleep(0)


def hub_client(
    url: str,
    *,
    api_key: str | None = DEFAULT_API_KEY,
    agent_keys: Mapping[str, str] | None = None,
    http: httpx.AsyncClient | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    timeout_s: float = 5.0,
    max_attempts: int = 4,
    backoff_base_s: float = 0.01,
    backoff_max_s: float = 10.0,
) -> HubClient:
    """A ``HubClient`` for a test Hub at ``url``: retries as in production, but never really waits
    between tries (``sleep`` records instead). ``max_attempts=1`` lets an injected fault through."""
    return HubClient(
        base_url=url,
        api_key=api_key,
        agent_keys=agent_keys,
        http=http,
        sleep=sleep or Sleeps(),
        timeout_s=timeout_s,
        max_attempts=max_attempts,
        backoff_base_s=backoff_base_s,
        backoff_max_s=backoff_max_s,
    )


def api_requests(hub: MockHub, path: str | None = None, method: str | None = None) -> list[RequestRecord]:
    """The ``/api/v1`` requests that reached the mock, optionally only those to ``path`` (and ``method``)."""
    return [r for r in hub.requests if (path is None or r.path == path) and (method is None or r.method == method)]
