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

import pytest

from local_emulator.hub import MockHubServer
from shared.streams import StreamKeys
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
    assert b"usage: python -m functions poller | ingest | metrics | runner" in done.stderr


@pytest.mark.parametrize("name", ["poller", "ingest"])
async def test_the_poller_and_ingest_serve_their_targets_under_gunicorn_on_port(
    name: str, redis_url: str, keys: StreamKeys, server: MockHubServer, tmp_path: Path
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
    with function(name, tmp_path / f"{name}.log", **env) as poller:
        await eventually(lambda: answers(f"http://127.0.0.1:{port}/healthz"), timeout_s=30, every_s=0.2)
        # From a thread: the mock Hub answers the poller's readiness on this test's loop.
        status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/readyz")
        assert status == 200, body
        assert body["checks"] == {"redis": "ok", "hub": "ok"}
        poller.send_signal(signal.SIGTERM)
        assert poller.wait(timeout=70) == 0  # gunicorn's graceful stop
    assert b"Traceback" not in (tmp_path / f"{name}.log").read_bytes()


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
