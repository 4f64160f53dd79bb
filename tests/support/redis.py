"""A private redis-server for a fixture: started, or the test skipped (failed under ``CI=true``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from local_emulator.redis_server import AppendFsync, RedisServer, RedisServerMissing

from ._paths import require


@contextmanager
def private_redis(*, appendfsync: AppendFsync | None = None) -> Iterator[RedisServer]:
    """A redis-server on a free port (with an AOF when ``appendfsync`` is given), stopped after."""
    try:
        server = RedisServer(appendfsync=appendfsync)
    except RedisServerMissing as exc:
        require(False, str(exc))
        raise
    with server:
        yield server
