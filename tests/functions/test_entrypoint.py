"""``python -m functions FUNCTION``: the image's one entrypoint, run as the image runs it, probes included."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local_emulator.hub import MockHubServer
from shared.signing import SIGNATURE_HEADER, signature
from shared.streams import Redis, StreamKeys
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
    assert b"usage: python -m functions poller | definitions | metrics | runner" in done.stderr


async def test_the_poller_serves_its_target_under_gunicorn_on_port(
    redis_url: str, keys: StreamKeys, server: MockHubServer, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "PORT": str(port),
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": keys.prefix,
        "HUB_URL": server.url,
        "HUB_API_KEY": "botburrow-local",
        "AGENTS_DIR": str(DEMO_AGENTS),
        "METRICS_PORT": "0",
    }
    with function("poller", tmp_path / "poller.log", **env) as poller:
        await eventually(lambda: answers(f"http://127.0.0.1:{port}/healthz"), timeout_s=30, every_s=0.2)
        # From a thread: the mock Hub answers the poller's readiness on this test's loop.
        status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/readyz")
        assert status == 200, body
        assert body["checks"] == {"redis": "ok", "hub": "ok"}
        poller.send_signal(signal.SIGTERM)
        assert poller.wait(timeout=70) == 0  # gunicorn's graceful stop
    assert b"Traceback" not in (tmp_path / "poller.log").read_bytes()


async def test_the_definitions_function_serves_its_webhook_under_gunicorn_on_port(
    redis: Redis, redis_url: str, keys: StreamKeys, server: MockHubServer, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "PORT": str(port),
        "REDIS_URL": redis_url,
        "STREAM_PREFIX": keys.prefix,
        "HUB_URL": server.url,
        "DEFINITIONS_WEBHOOK_SECRET": "entrypoint-secret",
        "METRICS_PORT": "0",
    }
    with function("definitions", tmp_path / "definitions.log", **env) as definitions:
        await eventually(lambda: answers(f"http://127.0.0.1:{port}/healthz"), timeout_s=30, every_s=0.2)
        body = b'{"all": true}'
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhook",
            data=body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature("entrypoint-secret", body)},
        )
        with await asyncio.to_thread(urllib.request.urlopen, request, timeout=10) as answer:
            assert answer.status == 200 and json.loads(answer.read())["all"] is True
        assert await redis.hget(f"{keys.prefix}:agents:versions", "*") == b"1"
        definitions.send_signal(signal.SIGTERM)
        assert definitions.wait(timeout=70) == 0
    assert b"Traceback" not in (tmp_path / "definitions.log").read_bytes()


async def test_the_metrics_function_is_a_pump_with_probes(
    redis_url: str, keys: StreamKeys, server: MockHubServer, tmp_path: Path
) -> None:
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
        assert "botburrow_stream_lag" in exposition
        metrics.send_signal(signal.SIGTERM)
        assert metrics.wait(timeout=30) == 0
