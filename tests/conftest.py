"""Test session: a real redis-server on a free port, a unique key prefix per test.

Under ``CI=true`` a missing redis-server fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from local_emulator.hub import MockHub, MockHubServer
from local_emulator.redis_server import RedisServer, RedisServerMissing
from shared.logs import configure_logging
from shared.streams import Redis, StreamKeys, StreamMetrics, StreamSettings, connect

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
"""``../shared/fixtures``: real agent definitions written outside this project."""


def free_port() -> int:
    """A TCP port free on loopback right now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require(condition: bool, reason: str) -> None:
    """Skip when a dependency is missing, but fail under CI, where it must be present."""
    if not condition:
        if CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    """Logs go to stderr as in production (pytest shows them for failing tests only)."""
    configure_logging(level="debug", json=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except RedisServerMissing as exc:
        require(False, str(exc))
        raise
    with server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = connect(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def keys(redis: Redis) -> AsyncIterator[StreamKeys]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    keys = StreamKeys(prefix=f"t{uuid.uuid4().hex[:10]}")
    yield keys
    async for key in redis.scan_iter(match=f"{keys.prefix}:*", count=1000):
        await redis.delete(key)


@pytest.fixture
def hub() -> MockHub:
    """An in-memory Hub with two agents, ``alice`` and ``bob`` (service key ``botburrow-local``)."""
    hub = MockHub()
    hub.add_agent("alice")
    hub.add_agent("bob")
    return hub


@pytest.fixture
async def server(hub: MockHub) -> AsyncIterator[MockHubServer]:
    """``hub`` over real HTTP on a free loopback port."""
    async with MockHubServer(hub) as server:
        yield server


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> StreamMetrics:
    return StreamMetrics(registry)


def fast_settings(keys: StreamKeys, **overrides: object) -> StreamSettings:
    """Stream settings with short timers, so lease and retry behaviour shows in seconds."""
    base: dict[str, object] = {
        "prefix": keys.prefix,
        "lease_ttl_ms": 1_000,
        "heartbeat_every_s": 0.2,
        "reclaim_every_s": 0.2,
        "promote_every_s": 0.05,
        "trim_every_s": 0.5,
        "status_every_s": 0.1,
        "block_ms": 200,
        "retry_base_s": 0.05,
        "retry_max_s": 0.2,
        "defer_base_s": 0.05,
        "defer_max_s": 0.2,
    }
    base.update(overrides)
    return StreamSettings(**base)  # type: ignore[arg-type]


async def eventually(check: Callable[[], object], *, timeout_s: float = 10.0, every_s: float = 0.02) -> None:
    """Poll ``check`` (sync or async) until it returns truthy; fail with its last value."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: object = None
    while asyncio.get_running_loop().time() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return
        await asyncio.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s}s (last value: {last!r})")
