"""``/readyz`` asks Redis and the Hub for real, and says which one failed."""

from __future__ import annotations

import socket

from local_emulator.hub import MockHub, MockHubServer
from tests.shared.serving.conftest import ServeRunner


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_ready_when_both_answer_then_not_when_the_hub_stops(
    serve_runner: ServeRunner, server: MockHubServer
) -> None:
    served = serve_runner()
    async with served.client() as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        await server.stop()
        down = await http.get("/readyz")
    assert down.status_code == 503
    assert down.json()["failing"] == ["hub"]
    assert down.json()["checks"]["redis"] == "ok"


async def test_not_ready_when_the_hub_answers_500(serve_runner: ServeRunner, hub: MockHub) -> None:
    served = serve_runner()
    hub.fail("/api/v1/health", method="GET", status=500)
    async with served.client() as http:
        down = await http.get("/readyz")
        assert down.status_code == 503
        assert down.json()["failing"] == ["hub"]
        assert "HubUnavailable" in down.json()["checks"]["hub"]
        assert (await http.get("/healthz")).status_code == 200, "alive even when not ready"


async def test_not_ready_when_redis_is_unreachable(serve_runner: ServeRunner) -> None:
    served = serve_runner(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    async with served.client() as http:
        down = await http.get("/readyz")
    assert down.status_code == 503
    assert down.json()["failing"] == ["redis"]


async def test_not_ready_when_the_handler_cannot_start(serve_runner: ServeRunner) -> None:
    served = serve_runner(handler="tests.support.handlers:broken")
    async with served.client() as http:
        down = await http.get("/readyz")
        assert down.status_code == 503 and down.json()["failing"] == ["handler"]
        crashed = await http.post(
            "/", headers={"ce-id": "1", "ce-source": "/s", "ce-specversion": "1.0", "ce-type": "t"}
        )
    assert crashed.status_code == 500 and crashed.json() == {"error": "internal"}
