"""The poller lease: one active poller at a time, fenced.

``SET {prefix}:poller:lease <token>:<holder> NX PX <ttl>`` where ``token`` comes from
``INCR {prefix}:poller:fence``, so every holding has a value no earlier or later
holding shares. Publication checks that value inside the same script that XADDs, so
a poller that stalled past its TTL and was replaced cannot land anything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog

from shared.streams import Redis, translated

from . import _scripts

log = structlog.get_logger(__name__)


class PollerLease:
    """Acquire, renew and release the poller lease for one ``holder``."""

    def __init__(self, redis: Redis, *, prefix: str, holder: str, ttl_s: float) -> None:
        if ttl_s <= 0:
            raise ValueError("the poller lease needs a positive ttl_s")
        self.key = f"{prefix}:poller:lease"
        self.fence_key = f"{prefix}:poller:fence"
        self.holder = holder
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self._redis = redis
        self._renew = _scripts.register(redis, _scripts.RENEW)
        self._release = _scripts.register(redis, _scripts.RELEASE)

    async def acquire(self) -> str | None:
        """The lease value when this holder got the lease now, else None (someone holds it)."""
        async with translated("poller lease acquire"):
            token = await self._redis.incr(self.fence_key)
            value = f"{token}:{self.holder}"
            got = await self._redis.set(self.key, value, nx=True, px=self.ttl_ms)
        return value if got else None

    async def renew(self, value: str) -> bool:
        """Extend the lease; False when it is no longer held with ``value``."""
        return bool(await _scripts.run(self._renew, [self.key], [value, self.ttl_ms], what="poller lease renew"))

    async def release(self, value: str) -> None:
        """Give the lease up, if it is still held with ``value``."""
        await _scripts.run(self._release, [self.key], [value], what="poller lease release")

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[str | None]:
        """Hold the lease for the block, renewing it a few times per TTL; yields None if not got.

        Losing the lease during the block is not raised here: fenced publication notices.
        """
        value = await self.acquire()
        if value is None:
            yield None
            return
        renewer = asyncio.create_task(self._keep(value), name="poller-lease-renew")
        try:
            yield value
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            with contextlib.suppress(Exception):
                await self.release(value)

    async def _keep(self, value: str) -> None:
        every_s = self.ttl_ms / 3000
        while True:
            await asyncio.sleep(every_s)
            try:
                if not await self.renew(value):
                    log.warning("poller.lease_lost", holder=self.holder)
                    return
            except Exception as exc:  # a failed renewal is retried; the fence protects publication
                log.warning("poller.lease_renew_failed", error=type(exc).__name__)
