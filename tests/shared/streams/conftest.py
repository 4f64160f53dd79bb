from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from cloudevents.http import CloudEvent

from shared import events as ev
from shared.errors import StreamUnavailable
from shared.streams import (
    Handler,
    Publisher,
    Pump,
    Redis,
    Route,
    StreamKeys,
    StreamMetrics,
    StreamSettings,
    stream_status,
)
from tests.support import fast_settings

_seq = itertools.count()


def activation(agent: str, n: int | None = None, priority: ev.Priority = ev.Priority.NORMAL) -> CloudEvent:
    """An activation for ``agent`` with a unique notification id (``n`` rides in the reason)."""
    i = next(_seq) if n is None else n
    return ev.activation_requested(
        agent_id=agent,
        agent_name=agent,
        kind=ev.ActivationKind.INBOX,
        requested_at=datetime.now(UTC),
        notification_ids=[f"{agent}-{i}-{next(_seq)}"],
        priority=priority,
        reason=str(i),
    )


async def publish(redis: Redis, keys: StreamKeys, events: Sequence[CloudEvent]) -> list[str]:
    items = [(keys.activations(ev.Priority(e.get_data()["priority"])), e) for e in events]
    return await Publisher(redis).publish_many(items)


async def drained(redis: Redis, keys: StreamKeys, group: str = "runners") -> bool:
    """Nothing undelivered, pending or delayed on any activation stream (False if Redis hiccups)."""
    try:
        for stream in keys.activation_streams:
            s = await stream_status(redis, stream, group)
            if s.lag or s.pending or s.delayed:
                return False
    except StreamUnavailable:
        return False
    return True


class Pumps:
    """Starts pumps in this event loop and stops them all at teardown."""

    def __init__(self, redis: Redis, keys: StreamKeys, metrics: StreamMetrics) -> None:
        self._redis = redis
        self._keys = keys
        self._metrics = metrics
        self.running: list[tuple[Pump, asyncio.Task[None]]] = []

    async def start(
        self,
        handler: Handler,
        *,
        settings: StreamSettings | None = None,
        concurrency: int = 4,
        grace_period_s: float = 5.0,
        consumer: str | None = None,
        metrics: StreamMetrics | None = None,
        route: Route | None = None,
    ) -> Pump:
        pump = Pump(
            redis=self._redis,
            keys=self._keys,
            settings=settings or fast_settings(self._keys),
            handler=handler,
            consumer=consumer or f"pump-{len(self.running)}",
            metrics=metrics or self._metrics,
            concurrency=concurrency,
            grace_period_s=grace_period_s,
            route=route,
        )
        task = asyncio.create_task(pump.run())
        self.running.append((pump, task))
        await asyncio.wait_for(pump.wait_ready(), 5)
        return pump

    async def stop(self, pump: Pump) -> None:
        for p, task in self.running:
            if p is pump:
                p.stop()
                await asyncio.wait_for(task, 30)

    async def stop_all(self) -> None:
        for p, _ in self.running:
            p.stop()
        await asyncio.wait_for(asyncio.gather(*(t for _, t in self.running), return_exceptions=True), 30)
        for _, t in self.running:
            if t.done() and not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]


@pytest.fixture
async def pumps(redis: Redis, keys: StreamKeys, metrics: StreamMetrics) -> AsyncIterator[Pumps]:
    p = Pumps(redis, keys, metrics)
    yield p
    await p.stop_all()
