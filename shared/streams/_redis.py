"""The redis-py boundary: connections, version check, Lua scripts, error translation.

Nothing above this module sees a redis-py exception: they become ``StreamUnavailable``
(transient) here, raised ``from`` the original.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis import exceptions as redis_errors
from redis.connection import HiredisRespSerializer

from shared.errors import ConfigurationError, StreamUnavailable

from ._tasks import Backoff

Redis = aioredis.Redis
Pipeline = aioredis.client.Pipeline

MIN_REDIS_VERSION = (7, 0)

log = structlog.get_logger(__name__)
SCRIPT_NAMES = ("acquire", "heartbeat", "settle", "promote", "reclaim", "replay")


class _HiredisPackedConnection(aioredis.Connection):
    """A connection that packs commands with hiredis (C).

    redis-py's asyncio connection only has its pure-Python packer, which was the single
    largest cost of the pump (a third of its CPU at 20k events/s); the sync client's
    hiredis serializer does the same job and is reused here as it is.
    """

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        return self._packer.pack(*args)  # type: ignore[no-any-return]

    async def connect(self) -> None:
        """Connect unless connected.

        The pool asks before every command, and redis-py's answer for a connected
        connection still goes through its retry wrapper each time.
        """
        if not self.is_connected:
            await super().connect()  # type: ignore[no-untyped-call]

    async def send_packed_command(self, command: str | bytes | Iterable[bytes], check_health: bool = True) -> None:
        """redis-py's send, with the socket timeout bounding the drain alone, and only when it has to wait.

        redis-py wraps every send in ``asyncio.wait_for``, which on Python 3.11 starts a task
        per command (a tenth of a runner's CPU went to sends); a send that fits in the
        socket's buffer, nearly every one, needs neither a task nor a timer. Failures are
        handled as redis-py does: the connection is dropped, the error translated.
        """
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()  # type: ignore[no-untyped-call]
        try:
            if isinstance(command, str):
                command = command.encode()
            if isinstance(command, bytes):
                command = [command]
            writer = self._writer
            assert writer is not None  # connected above
            writer.writelines(command)
            if writer.transport.get_write_buffer_size() or writer.transport.is_closing():
                async with asyncio.timeout(self.socket_timeout):
                    await writer.drain()
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise redis_errors.TimeoutError("Timeout writing to socket") from None
        except OSError as e:
            await self.disconnect(nowait=True)
            err_no, errmsg = ("UNKNOWN", e.args[0]) if len(e.args) == 1 else (e.args[0], e.args[1])
            raise redis_errors.ConnectionError(f"Error {err_no} while writing to socket. {errmsg}.") from e
        except BaseException:
            await self.disconnect(nowait=True)
            raise


MAX_CONNECTIONS = 128
"""The most connections one client opens; a command that finds them all busy waits for one.

redis-py's own pool refuses a command beyond its cap (100 since redis-py 6) with "Too many
connections": a runner holding a few dozen activations, each with Redis calls in flight,
reached it and failed activations that only had to wait a moment."""


def connect(url: str, *, block_ms: int = 2_000, max_connections: int = MAX_CONNECTIONS) -> Redis:
    """A client for ``url``; the socket timeout outlasts the longest blocking read.

    Its pool holds at most ``max_connections``; past them a command waits (up to the
    socket timeout) for a connection to come free instead of failing.

    RESP2 is chosen explicitly: redis-py 8 switched its default to RESP3, and the
    reply shapes this package parses (and that Lua scripts and redis-cli see) are RESP2's.
    """
    extra: dict[str, Any] = {"connection_class": _HiredisPackedConnection} if url.startswith("redis://") else {}
    timeout_s = max(10.0, block_ms / 1000 + 5)
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        **extra,
        max_connections=max_connections,
        timeout=timeout_s,
        protocol=2,
        decode_responses=False,
        socket_connect_timeout=5,
        socket_timeout=timeout_s,
        health_check_interval=30,
    )
    return aioredis.Redis.from_pool(pool)


def text(value: bytes | str | object) -> str:
    """A reply value as text (replies are bytes: clients are built without decoding)."""
    return value.decode() if isinstance(value, bytes) else str(value)


@asynccontextmanager
async def translated(what: str) -> AsyncIterator[None]:
    """Turn redis-py failures inside the block into ``StreamUnavailable``."""
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
        raise StreamUnavailable(f"redis unavailable during {what}: {exc}") from exc
    except redis_errors.RedisError as exc:
        raise StreamUnavailable(f"redis refused {what}: {exc}") from exc


async def server_version(redis: Redis) -> tuple[int, int, int]:
    """The server's version, as a tuple.

    A server without ``INFO`` (fakeredis, the emulator's embedded fallback) is taken as
    7.0, the minimum: features gated on a newer server stay off.
    """
    async with translated("INFO server"):
        try:
            info = await redis.info("server")
        except redis_errors.ResponseError as exc:
            if "unknown command" not in str(exc).lower():
                raise
            log.warning("redis.no_info", assumed=".".join(map(str, MIN_REDIS_VERSION)))
            return (*MIN_REDIS_VERSION, 0)
    parts = str(info.get("redis_version", "0.0.0")).split(".")
    major, minor, patch = (int(p) if p.isdigit() else 0 for p in [*parts, "0", "0"][:3])
    return (major, minor, patch)


async def require_version(redis: Redis) -> str:
    """Fail at start on a server older than 7.0 (XAUTOCLAIM and group lag need it)."""
    version = await server_version(redis)
    if version[:2] < MIN_REDIS_VERSION:
        found = ".".join(map(str, version))
        raise ConfigurationError(f"redis-server {found} is too old: botburrow needs 7.0 or later")
    return ".".join(map(str, version))


async def await_version(redis: Redis, *, stop: asyncio.Event, base_s: float = 0.25) -> str | None:
    """``require_version`` once Redis answers; ``None`` when ``stop`` was set first.

    While Redis is unreachable or still loading its AOF (``-LOADING``) this waits with
    backoff (a few log lines, not one per try): a process started during an outage waits
    for it instead of exiting into a crash loop.

    Raises:
        ConfigurationError: the server is older than 7.0.
    """
    backoff = Backoff(base_s)
    while not stop.is_set():
        try:
            version = await require_version(redis)
        except StreamUnavailable as exc:
            delay_s = backoff.failed()
            if backoff.loggable:
                log.warning("redis.waiting", failures=backoff.failures, retry_in_s=round(delay_s, 2), error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay_s)
            continue
        if failures := backoff.succeeded():
            log.info("redis.reachable", failures=failures)
        return version
    return None


class Scripts:
    """The transport's Lua scripts, called by SHA so the hot path never resends them.

    redis-py's ``Script`` objects make every pipeline ``execute()`` ask ``SCRIPT
    EXISTS`` first, an extra round trip per batch; this calls ``EVALSHA`` directly
    and reloads once if the server answers NOSCRIPT (after a restart or flush).
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._source = {
            name: resources.files("shared.streams").joinpath(f"lua/{name}.lua").read_text() for name in SCRIPT_NAMES
        }
        self.sha = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in self._source.items()}

    async def load(self) -> None:
        """Load every script into the server's cache."""
        async with translated("SCRIPT LOAD"):
            pipe = self._redis.pipeline(transaction=False)
            for src in self._source.values():
                pipe.script_load(src)
            await pipe.execute()

    async def call(self, name: str, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
        """Run one script outside a pipeline."""
        for attempt in (1, 2):
            try:
                async with translated(f"script {name}"):
                    return await self._redis.evalsha(self.sha[name], len(keys), *keys, *args)
            except StreamUnavailable as exc:
                if attempt == 1 and isinstance(exc.__cause__, redis_errors.NoScriptError):
                    await self.load()
                    continue
                raise
        raise AssertionError("unreachable")

    def queue(self, pipe: Pipeline, name: str, keys: Sequence[str | bytes], args: Sequence[Any]) -> None:
        """Queue one script call on ``pipe``; pair with ``execute``."""
        pipe.evalsha(self.sha[name], len(keys), *keys, *args)

    async def execute(self, pipe: Pipeline, what: str) -> list[Any]:
        """Execute ``pipe``; re-run script calls that met NOSCRIPT after reloading.

        Returns the replies in order; a command that failed has a ``StreamUnavailable``
        in its place, for the caller to raise or count.
        """
        async with translated(what):
            commands = list(pipe.command_stack)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        missing = [i for i, r in enumerate(replies) if isinstance(r, redis_errors.NoScriptError)]
        if missing:
            await self.load()
            async with translated(what):
                retry = self._redis.pipeline(transaction=False)
                for i in missing:
                    args, options = commands[i]
                    retry.execute_command(*args, **options)
                for i, reply in zip(missing, await retry.execute(raise_on_error=False), strict=True):
                    replies[i] = reply
        return [
            StreamUnavailable(f"redis refused {what}: {r}") if isinstance(r, redis_errors.RedisError) else r
            for r in replies
        ]
