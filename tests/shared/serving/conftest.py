from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local_emulator.hub import DEFAULT_API_KEY, MockHubServer
from shared.streams import StreamKeys
from tests.support import ROOT
from tests.support.served import FRONTS, Front, Served, serve_target

RUNNER_SOURCE = str(ROOT / "functions" / "runner" / "main.py")
EVENTS_TOKEN = "PRIVATE-EVENTS-TOKEN"
"""The runner target's bearer token in these tests (``PRIVATE``: it must never be echoed)."""


@pytest.fixture
def hub_agents() -> list[str]:
    return ["alice"]


ServeRunner = Callable[..., Served]
ServeFunction = Callable[..., Served]


@pytest.fixture(params=FRONTS)
def front(request: pytest.FixtureRequest) -> Front:
    """Every test of a served target runs against both fronts: Flask (functions-framework) and ASGI."""
    chosen: Front = request.param
    return chosen


@pytest.fixture
def serve_function(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, keys: StreamKeys, server: MockHubServer, front: Front
) -> Iterator[ServeFunction]:
    """Build a function's target (``functions/…`` source, target name) as its server does; serve it on ``front``."""
    started: list[Served] = []

    def start(source: Path, target: str, *, token: str = "", **env: str) -> Served:
        full: dict[str, Any] = {
            "REDIS_URL": redis_url,
            "STREAM_PREFIX": keys.prefix,
            "HUB_URL": server.url,
            "HUB_API_KEY": DEFAULT_API_KEY,
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "console",
            **env,
        }
        served = serve_target(monkeypatch, target=target, source=str(source), env=full, token=token, front=front)
        started.append(served)
        return served

    yield start
    for served in started:
        served.close()


@pytest.fixture
def serve_runner(serve_function: ServeFunction) -> ServeRunner:
    """The runner target, with ``EVENTS_TOKEN`` set and sent by its clients."""

    def start(handler: str = "tests.support.handlers:recording", **env: str) -> Served:
        env = {"RUNNER_HANDLER": handler, "EVENTS_TOKEN": EVENTS_TOKEN, **env}
        return serve_function(Path(RUNNER_SOURCE), "runner", token=env["EVENTS_TOKEN"], **env)

    return start
