from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import flask
import functions_framework
import httpx
import pytest
from werkzeug.serving import make_server

from local_emulator.hub import DEFAULT_API_KEY, MockHubServer
from shared.serving import FunctionTarget
from shared.streams import StreamKeys
from tests.support import ROOT

RUNNER_SOURCE = str(ROOT / "functions" / "runner" / "main.py")
EVENTS_TOKEN = "PRIVATE-EVENTS-TOKEN"
"""The runner target's bearer token in these tests (``PRIVATE``: it must never be echoed)."""


@pytest.fixture
def hub_agents() -> list[str]:
    return ["alice"]


class Served:
    """A functions-framework app on 127.0.0.1 over real HTTP, and its target."""

    def __init__(self, app: flask.Flask, target: FunctionTarget, *, token: str = "") -> None:
        self.app = app
        self.target = target
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def client(self, *, authenticated: bool = True) -> httpx.AsyncClient:
        """A client of the target; ``authenticated`` sends the target's bearer token on every request."""
        headers = self.headers if authenticated else {}
        return httpx.AsyncClient(base_url=self.url, timeout=10, headers=headers)

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(5)
        self.target.close()


ServeRunner = Callable[..., Served]
ServeFunction = Callable[..., Served]


@pytest.fixture
def serve_function(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, keys: StreamKeys, server: MockHubServer
) -> Iterator[ServeFunction]:
    """Build a function's target (``functions/…`` source, target name) as functions-framework does; serve it."""
    started: list[Served] = []

    def start(source: Path, target: str, *, token: str = "", **env: str) -> Served:
        full: dict[str, Any] = {
            "REDIS_URL": redis_url,
            "STREAM_PREFIX": keys.prefix,
            "HUB_URL": server.url,
            "HUB_API_KEY": DEFAULT_API_KEY,
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "console",
            # functions-framework writes these two itself; set them here so they are restored.
            "FUNCTION_TARGET": target,
            "FUNCTION_SIGNATURE_TYPE": "cloudevent",
            **env,
        }
        for name, value in full.items():
            monkeypatch.setenv(name, value)
        app = functions_framework.create_app(target=target, source=str(source), signature_type="cloudevent")
        served = Served(app, sys.modules[source.stem].target, token=token)
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
