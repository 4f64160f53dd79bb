"""``python -m functions.runner`` as a real process: SIGTERM drain, exit codes, bad config."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from shared.events import Priority
from shared.streams import Redis, StreamKeys, stream_status
from tests.shared.streams.conftest import activation, publish
from tests.support import ROOT, child_env, eventually, free_port


def start_runner(redis_url: str, keys: StreamKeys, log: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    defaults = {"RUNNER_HANDLER": "tests.support.handlers:slow", "METRICS_PORT": "0", "LOG_LEVEL": "warning"}
    full = child_env({**defaults, **env}, REDIS_URL=redis_url, STREAM_PREFIX=keys.prefix)
    with log.open("ab") as sink:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "functions.runner", *args], cwd=ROOT, env=full, stderr=sink)


async def test_sigterm_lets_running_activations_finish_and_exits_zero(
    redis: Redis, redis_url: str, keys: StreamKeys, tmp_path: Path
) -> None:
    port = free_port()
    runner = start_runner(
        redis_url,
        keys,
        tmp_path / "runner.log",
        RUNNER_CONCURRENCY="2",
        RUNNER_GRACE_PERIOD_S="10",
        TEST_HANDLER_SLEEP_S="1.5",
        METRICS_PORT=str(port),
    )
    try:
        await publish(redis, keys, [activation(f"agent-{i}") for i in range(5)])
        await eventually(lambda: redis.llen(f"{keys.prefix}:test:started"), timeout_s=15)
        await eventually(lambda: _count(redis, keys, "started", 2))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            exposition = response.read().decode()
        assert "botburrow_events_in_flight 2.0" in exposition
        assert "botburrow_dispatch_latency_seconds_count" in exposition
        runner.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        assert runner.wait(timeout=15) == 0
        assert time.monotonic() - sent < 5, "drained as soon as the running handlers finished"
    finally:
        runner.kill()
    assert await redis.llen(f"{keys.prefix}:test:finished") == 2
    assert await redis.xlen(keys.results) == 2
    status = await stream_status(redis, keys.activations(Priority.NORMAL), "runners")
    assert (status.lag, status.pending) == (3, 0), "the three never claimed are left for other runners"


async def test_handlers_past_the_grace_period_are_handed_back(
    redis: Redis, redis_url: str, keys: StreamKeys, tmp_path: Path
) -> None:
    runner = start_runner(
        redis_url,
        keys,
        tmp_path / "runner.log",
        RUNNER_CONCURRENCY="2",
        RUNNER_GRACE_PERIOD_S="0.3",
        TEST_HANDLER_SLEEP_S="30",
    )
    try:
        await publish(redis, keys, [activation("agent-a"), activation("agent-b")])
        await eventually(lambda: _count(redis, keys, "started", 2), timeout_s=15)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=15) == 0
    finally:
        runner.kill()
    assert await redis.llen(f"{keys.prefix}:test:finished") == 0
    stream = keys.activations(Priority.NORMAL)
    back = await redis.xreadgroup("runners", "checker", {stream: ">"}, count=10)
    assert sorted(f[b"deliveries"] for _, f in back[0][1]) == [b"1", b"1"], "back on the stream, the run counted"
    assert (await stream_status(redis, stream, "runners")).pending == 2  # just the checker's


async def test_once_handles_one_activation_and_exits_zero(
    redis: Redis, redis_url: str, keys: StreamKeys, tmp_path: Path
) -> None:
    port = free_port()
    runner = start_runner(
        redis_url,
        keys,
        tmp_path / "runner.log",
        "--once",
        RUNNER_CONCURRENCY="4",
        TEST_HANDLER_SLEEP_S="0.5",
        METRICS_PORT=str(port),
    )
    try:
        await publish(redis, keys, [activation(f"agent-{i}") for i in range(3)])
        await eventually(lambda: _count(redis, keys, "started", 1), timeout_s=15)
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read())
        ready = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).read())
        assert health == {"status": "ok"}
        assert ready == {"status": "ready", "checks": {"pump": "ok", "redis": "ok"}}
        assert runner.wait(timeout=15) == 0
    finally:
        runner.kill()
    assert await redis.llen(f"{keys.prefix}:test:finished") == 1
    status = await stream_status(redis, keys.activations(Priority.NORMAL), "runners")
    assert (status.lag, status.pending) == (2, 0), "one handled and acknowledged, the others left for other Jobs"


async def test_once_exits_when_nothing_comes(redis: Redis, redis_url: str, keys: StreamKeys, tmp_path: Path) -> None:
    runner = start_runner(redis_url, keys, tmp_path / "runner.log", "--once", "--idle-exit", "1")
    try:
        assert runner.wait(timeout=20) == 0
    finally:
        runner.kill()
    assert await redis.llen(f"{keys.prefix}:test:started") == 0


def test_bad_configuration_exits_2_naming_every_variable(redis_url: str, keys: StreamKeys) -> None:
    env = child_env(REDIS_URL="http://nope", RUNNER_CONCURRENCY="zero", MAX_DELIVERIES="0", STREAM_PREFIX=keys.prefix)
    done = subprocess.run(
        [sys.executable, "-m", "functions.runner"], cwd=ROOT, env=env, capture_output=True, timeout=30
    )
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "REDIS_URL='http://nope': must start with redis://" in err
    assert "RUNNER_CONCURRENCY='zero': must be a whole number" in err
    assert "MAX_DELIVERIES='0': must be at least 1" in err


def test_unknown_handler_exits_2(redis_url: str, keys: StreamKeys) -> None:
    env = child_env(REDIS_URL=redis_url, RUNNER_HANDLER="tests.nowhere:handler")
    done = subprocess.run(
        [sys.executable, "-m", "functions.runner"], cwd=ROOT, env=env, capture_output=True, timeout=30
    )
    assert done.returncode == 2
    assert "RUNNER_HANDLER='tests.nowhere:handler': cannot import 'tests.nowhere'" in done.stderr.decode()


async def _count(redis: Redis, keys: StreamKeys, name: str, n: int) -> bool:
    return bool(await redis.llen(f"{keys.prefix}:test:{name}") >= n)
