"""What each pump does on the side: delayed entries back, history trimmed, gauges, consumers."""

from __future__ import annotations

import asyncio

import structlog

from ._admin import promote_due, prune_consumers, transport_status, trim_acknowledged
from ._config import StreamSettings
from ._keys import StreamKeys
from ._metrics import StreamMetrics
from ._redis import Redis, Scripts
from ._tasks import every

log = structlog.get_logger("botburrow.pump")


class Housekeeping:
    """Periodic jobs on the pump's own streams; every replica runs them (they are idempotent)."""

    def __init__(
        self,
        redis: Redis,
        scripts: Scripts,
        keys: StreamKeys,
        settings: StreamSettings,
        metrics: StreamMetrics,
        *,
        consumer: str,
        streams: tuple[str, ...],
        group: str,
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        self._keys = keys
        self._cfg = settings
        self._metrics = metrics
        self._consumer = consumer
        self._streams = streams
        self._group = group

    def start(self, *, until: asyncio.Event) -> list[asyncio.Task[None]]:
        """Start the jobs; they end once ``until`` is set (or are cancelled)."""
        jobs = (
            (self._cfg.promote_every_s, self.promote),
            (self._cfg.trim_every_s, self.trim),
            (self._cfg.status_every_s, self.sample),
            (60.0, self.prune),
        )
        return [asyncio.create_task(every(s, job, until=until), name=job.__name__) for s, job in jobs]

    async def promote(self) -> None:
        """Put delayed entries whose time has come back onto their stream."""
        moved = await promote_due(self._redis, self._scripts, self._streams)
        if moved:
            self._metrics.promoted.inc(moved)

    async def trim(self) -> None:
        """Drop history every group has acknowledged."""
        for stream in (*self._keys.activation_streams, self._keys.results):
            self._metrics.trimmed.inc(await trim_acknowledged(self._redis, stream))

    async def sample(self) -> None:
        """Refresh the lag, pending, length, delayed and dead-letter gauges."""
        groups = dict.fromkeys(self._streams, self._group)
        self._metrics.set_status(await transport_status(self._redis, self._keys, groups))

    async def prune(self) -> None:
        """Remove consumers that left nothing pending and have been silent a long time."""
        for stream in self._streams:
            removed = await prune_consumers(
                self._redis, stream, self._group, idle_s=self._cfg.prune_consumers_after_s, keep=self._consumer
            )
            if removed:
                log.info("pump.pruned_consumers", stream=stream, consumers=removed)
