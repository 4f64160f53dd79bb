"""The definitions function built the way functions-framework builds it, served over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_emulator.hub import MockHubServer
from shared.streams import StreamKeys
from tests.support import ROOT
from tests.support.served import Served, serve_target

SOURCE = str(ROOT / "functions" / "definitions" / "main.py")
WEBHOOK_SECRET = "definitions-webhook-secret"

ServeDefinitions = Callable[..., Served]


def start_definitions(
    monkeypatch: pytest.MonkeyPatch, *, redis_url: str, prefix: str, hub_url: str, **env: str
) -> Served:
    """Build the definitions target as functions-framework does (``env`` added) and serve it on loopback."""
    full: dict[str, Any] = {
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": prefix,
        "HUB_URL": hub_url,
        "DEFINITIONS_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LOG_LEVEL": "debug",
        "LOG_FORMAT": "console",
        **env,
    }
    return serve_target(monkeypatch, target="definitions", source=SOURCE, env=full)


@pytest.fixture
def serve_definitions(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, keys: StreamKeys, server: MockHubServer
) -> Iterator[ServeDefinitions]:
    """Start the definitions target (``env`` added to its settings) on a free loopback port."""
    started: list[Served] = []

    def start(**env: str) -> Served:
        served = start_definitions(monkeypatch, redis_url=redis_url, prefix=keys.prefix, hub_url=server.url, **env)
        started.append(served)
        return served

    yield start
    for served in started:
        served.close()
