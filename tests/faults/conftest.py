"""Redis faults: each test gets a redis-server of its own, which it may SIGKILL, SIGSTOP or stop
and bring back on the same port and data directory (``local_emulator.redis_server.RedisServer``).

``redis_url`` is overridden here, so the shared fixtures built on it (``redis``, ``keys``, and
the integration ``system``) all talk to that killable server rather than the session's.
``appendfsync`` picks its persistence: ``"always"`` unless a test parametrizes it (``None``
keeps nothing on disk).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_emulator.redis_server import AppendFsync, RedisServer
from tests.integration.conftest import hub_agents, system, system_overrides
from tests.support.redis import private_redis

__all__ = ["hub_agents", "system", "system_overrides"]  # the integration system, on this package's Redis


@pytest.fixture
def appendfsync() -> AppendFsync | None:
    """The persistence of this test's redis-server (override or parametrize to change it)."""
    return "always"


@pytest.fixture
def redis_server(appendfsync: AppendFsync | None) -> Iterator[RedisServer]:
    """A redis-server of this test's own, AOF as ``appendfsync`` says, stopped afterwards."""
    with private_redis(appendfsync=appendfsync) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url
