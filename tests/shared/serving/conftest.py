from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_emulator.hub import DEFAULT_API_KEY, MockHubServer
from shared.streams import StreamKeys
from tests.support import ROOT
from tests.support.served import Served, serve_target

RUNNER_SOURCE = str(ROOT / "functions" / "runner" / "main.py")


@pytest.fixture
def hub_agents() -> list[str]:
    return ["alice"]


ServeRunner = Callable[..., Served]


@pytest.fixture
def serve_runner(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, keys: StreamKeys, server: MockHubServer
) -> Iterator[ServeRunner]:
    """Build the runner target the way functions-framework does and serve it over HTTP."""
    started: list[Served] = []

    def start(handler: str = "tests.support.handlers:recording", **env: str) -> Served:
        full: dict[str, Any] = {
            "REDIS_URL": redis_url,
            "STREAM_PREFIX": keys.prefix,
            "HUB_URL": server.url,
            "HUB_API_KEY": DEFAULT_API_KEY,
            "RUNNER_HANDLER": handler,
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "console",
            **env,
        }
        served = serve_target(monkeypatch, target="runner", source=RUNNER_SOURCE, env=full)
        started.append(served)
        return served

    yield start
    for served in started:
        served.close()
