"""``python -m functions FUNCTION``: the image's one entrypoint, run as the image runs it, probes included."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from functions.__main__ import ASGI_TARGETS
from local_emulator.hub import MockHubServer
from shared.signing import SIGNATURE_HEADER, signature
from shared.streams import Redis, StreamKeys, ensure_groups
from tests.support import ROOT, child_env, eventually, free_port

DEMO_AGENTS = ROOT / "local_emulator" / "demo_agents"


@contextmanager
def function(name: str, log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    full = child_env({"LOG_LEVEL": "warning", **env})
    with log.open("ab") as sink:
        process = subprocess.Popen([sys.executable, "-m", "functions", name], cwd=ROOT, env=full, stderr=sink)
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except (OSError, ValueError):
        return False


def test_an_unknown_function_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "functions", "mailer"], cwd=ROOT, env=child_env(), capture_output=True, timeout=30
    )
    assert done.returncode == 2
    assert b"usage: python -m functions poller | ingest | definitions | metrics | metrics-http | runner" in done.stderr


@asynccontextmanager
async def under_gunicorn(
    name: str, log: Path, *, redis_url: str, prefix: str, hub_url: str, **env: str
) -> AsyncIterator[str]:
    """An HTTP function as the image runs it, on a free ``PORT``, answering ``/healthz``; its base URL.

    On exit it is sent SIGTERM, must stop gracefully (exit 0) and must have logged no traceback.
    """
    port = free_port()
    full = {"PORT": str(port), "REDIS_URL": redis_url, "STREAM_PREFIX": prefix, "HUB_URL": hub_url, **env}
    with function(name, log, METRICS_PORT="0", **full) as process:
        await eventually(lambda: answers(f"http://127.0.0.1:{port}/healthz"), timeout_s=30, every_s=0.2)
        yield f"http://127.0.0.1:{port}"
        process.send_signal(signal.SIGTERM)
        # gunicorn exits 0 after its graceful stop; uvicorn drains, then re-raises the signal it caught
        assert process.wait(timeout=70) == (-signal.SIGTERM if name in ASGI_TARGETS else 0)
    assert b"Traceback" not in log.read_bytes()


@pytest.mark.parametrize("name", ["poller", "ingest"])
async def test_the_poller_and_ingest_serve_their_targets_on_port(
    name: str, redis_url: str, keys: StreamKeys, server: MockHubServer, tmp_path: Path
) -> None:
    async with under_gunicorn(
        name,
        tmp_path / f"{name}.log",
        redis_url=redis_url,
        prefix=keys.prefix,
        hub_url=server.url,
        HUB_API_KEY="botburrow-local",
        AGENTS_DIR=str(DEMO_AGENTS),
    ) as url:
        # From a thread: the mock Hub answers the poller's readiness on this test's loop.
        status, body = await asyncio.to_thread(get, f"{url}/readyz")
        assert status == 200, body
        assert body["checks"] == {"redis": "ok", "hub": "ok"}


async def test_the_definitions_function_serves_its_webhook_under_gunicorn_on_port(
    redis: Redis, redis_url: str, keys: StreamKeys, server: MockHubServer, tmp_path: Path
) -> None:
    async with under_gunicorn(
        "definitions",
        tmp_path / "definitions.log",
        redis_url=redis_url,
        prefix=keys.prefix,
        hub_url=server.url,
        DEFINITIONS_WEBHOOK_SECRET="entrypoint-secret",
    ) as url:
        body = b'{"all": true}'
        request = urllib.request.Request(
            f"{url}/webhook",
            data=body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature("entrypoint-secret", body)},
        )
        with await asyncio.to_thread(urllib.request.urlopen, request, timeout=10) as answer:
            assert answer.status == 200 and json.loads(answer.read())["all"] is True
        assert await redis.hget(f"{keys.prefix}:agents:versions", "*") == b"1"


async def test_the_metrics_function_is_a_pump_with_probes(
    redis: Redis, redis_url: str, keys: StreamKeys, server: MockHubServer, tmp_path: Path
) -> None:
    waiting = keys.activation_streams[0]
    await ensure_groups(redis, {waiting: "runners"})
    for n in range(2):  # activations waiting, and no runner anywhere
        await redis.xadd(waiting, {b"n": str(n).encode()})
    port = free_port()
    env = {
        "METRICS_PORT": str(port),
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": keys.prefix,
        "HUB_URL": server.url,
        "HUB_API_KEY": "botburrow-local",
    }
    with function("metrics", tmp_path / "metrics.log", **env) as metrics:
        await eventually(lambda: answers(f"http://127.0.0.1:{port}/readyz"), timeout_s=30, every_s=0.2)
        assert get(f"http://127.0.0.1:{port}/readyz") == (
            200,
            {"status": "ready", "checks": {"pump": "ok", "redis": "ok"}},
        )
        exposition = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        # Every stream's status, read at scrape (not only the pump's own results stream), declared once.
        assert f'botburrow_stream_lag{{stream="{waiting}"}} 2.0' in exposition
        assert f'botburrow_stream_pending{{stream="{waiting}"}} 0.0' in exposition
        for stream in (*keys.activation_streams[1:], keys.results):
            assert f'botburrow_stream_lag{{stream="{stream}"}} 0.0' in exposition
        assert exposition.count("# HELP botburrow_stream_lag ") == 1
        assert "botburrow_scrape_failures_total{" not in exposition
        metrics.send_signal(signal.SIGTERM)
        assert metrics.wait(timeout=30) == 0


async def test_metrics_http_serves_the_operators_routes_under_gunicorn_as_the_cluster_runs_it(
    redis_url: str, keys: StreamKeys, server: MockHubServer, tmp_path: Path
) -> None:
    """``knative/metrics.yaml`` runs ``metrics-http``: the operator's routes answer, behind OPERATOR_TOKEN."""
    async with under_gunicorn(
        "metrics-http",
        tmp_path / "metrics-http.log",
        redis_url=redis_url,
        prefix=keys.prefix,
        hub_url=server.url,
        HUB_API_KEY="botburrow-local",
        OPERATOR_TOKEN="entrypoint-operator",
    ) as url:
        refused = await asyncio.to_thread(get, f"{url}/api/agents")
        assert refused[0] == 401
        request = urllib.request.Request(f"{url}/api/agents", headers={"Authorization": "Bearer entrypoint-operator"})
        with await asyncio.to_thread(urllib.request.urlopen, request, timeout=10) as answer:
            assert answer.status == 200 and json.loads(answer.read())["agents"] == []
        exposition = await asyncio.to_thread(lambda: urllib.request.urlopen(f"{url}/metrics", timeout=10).read())
        assert b"botburrow_stream_lag" in exposition
