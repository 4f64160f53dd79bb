"""Shared by the Hub client and mock Hub tests: a sleep recorder and client factories."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from local_emulator.hub import DEFAULT_API_KEY, MockHub, RequestRecord
from shared.hub import HubClient


class Sleeps:
    """An injected ``sleep`` that records what the client asked for and waits no time at all."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)
        await asyncio.sleep(0)


def make_client(
    url: str,
    *,
    api_key: str | None = DEFAULT_API_KEY,
    agent_keys: Mapping[str, str] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    **options: float,
) -> HubClient:
    settings: dict[str, float] = {"timeout_s": 5.0, "max_attempts": 4, "backoff_base_s": 0.01, "backoff_max_s": 10.0}
    settings.update(options)
    return HubClient(
        base_url=url,
        api_key=api_key,
        agent_keys=agent_keys,
        sleep=sleep or Sleeps(),
        timeout_s=settings["timeout_s"],
        max_attempts=int(settings["max_attempts"]),
        backoff_base_s=settings["backoff_base_s"],
        backoff_max_s=settings["backoff_max_s"],
    )


def api_requests(hub: MockHub, path: str | None = None, method: str | None = None) -> list[RequestRecord]:
    """The ``/api/v1`` requests that reached the mock, optionally only those to ``path``."""
    return [r for r in hub.requests if (path is None or r.path == path) and (method is None or r.method == method)]
