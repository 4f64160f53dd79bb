"""Test session: a real redis-server on a free port, a unique key prefix per test, the mock Hub,
and the credential guard: no variable of the developer's that looks like a secret or points at
a real service (``tests.support.CREDENTIAL_PATTERNS``) is seen by a test or a child it starts.

Under ``CI=true`` a missing redis-server fails the run instead of skipping. The helpers these
fixtures are built from live in ``tests/support``; import them from there, never from here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import CollectorRegistry

from local_emulator.hub import MockHub, MockHubServer
from local_emulator.redis_server import RedisServer
from shared.logs import configure_logging
from shared.streams import Redis, StreamKeys, StreamMetrics, connect
from tests.support import Clock, Sleeps, is_credential, mock_hub, strip_credentials
from tests.support.redis import private_redis

_STRIPPED: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Take credentials out of the environment before any fixture, server or child starts."""
    _STRIPPED[:] = strip_credentials(os.environ)


def pytest_report_header(config: pytest.Config) -> str:
    names = ", ".join(_STRIPPED) or "none"
    return f"credential guard: taken out of the environment: {names}"


SANDBOX_FIXTURES = frozenset({"docker_url", "bwrap_path", "servers_dir"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a real sandbox backend (MCP servers run in bubblewrap) is marked ``sandbox``.

    ``make test-fast`` leaves those out.
    """
    for item in items:
        if SANDBOX_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.sandbox)


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Again before each test: whatever an earlier one left in ``os.environ`` is gone."""
    for name in [name for name in os.environ if is_credential(name)]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    """Logs go to stderr as in production (pytest shows them for failing tests only)."""
    configure_logging(level="debug", json=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with private_redis() as server:
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
def hub_agents() -> list[str]:
    """The agents ``hub`` registers; a package's conftest overrides this to give it others."""
    return ["alice", "bob"]


@pytest.fixture
def hub(hub_agents: list[str]) -> MockHub:
    """The in-memory mock Hub (service key ``botburrow-local``) with ``hub_agents`` registered."""
    return mock_hub(*hub_agents)


@pytest.fixture
async def server(hub: MockHub) -> AsyncIterator[MockHubServer]:
    """``hub`` over real HTTP on a free loopback port."""
    async with MockHubServer(hub) as server:
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    """A ``sleep`` for the client under test that records its delays and waits for none."""
    return Sleeps()


@pytest.fixture
def clock() -> Clock:
    """Time the test moves by hand."""
    return Clock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> StreamMetrics:
    return StreamMetrics(registry)
