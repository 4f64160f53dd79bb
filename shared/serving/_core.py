"""The async side of an HTTP target: the process's clients, the wrapped handler, readiness.

One ``Core`` per process, opened on the target's loop. It builds the ``Runtime`` the
way ``shared.runtime.serve_pump`` does, enters the handler factory, and wraps the
handler with the same policies the pump path uses (log context, activation metrics).
Outcome events are published on the results stream, where the pump's settle script
puts them (``StreamKeys.results``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import AsyncExitStack
from dataclasses import dataclass

import structlog
from cloudevents.http import CloudEvent
from prometheus_client import CollectorRegistry

from shared.errors import BotburrowError
from shared.hub import HubClient
from shared.observability import ActivationMetrics, Readiness, check_redis, with_activation_metrics, with_log_context
from shared.runtime import HandlerFactory, Runtime
from shared.settings import Settings
from shared.streams import Handler, Publisher, Redis, StreamKeys, connect

log = structlog.get_logger("botburrow.serving")


@dataclass(frozen=True, kw_only=True)
class Served:
    """What handling one event over HTTP produced.

    Attributes:
        event_id: the id of the event handled.
        outcome_ids: ids of the events the handler returned, in order.
        entry_ids: their entry ids on the results stream.
    """

    event_id: str
    outcome_ids: tuple[str, ...] = ()
    entry_ids: tuple[str, ...] = ()


class Core:
    """Clients, handler and readiness checks of one process; use ``async with`` on the target's loop."""

    def __init__(
        self,
        *,
        settings: Settings,
        factory: HandlerFactory,
        registry: CollectorRegistry,
        metrics: ActivationMetrics,
        ready_timeout_s: float,
    ) -> None:
        self._settings = settings
        self._factory = factory
        self._registry = registry
        self._metrics = metrics
        self._ready_timeout_s = ready_timeout_s
        self._stack = AsyncExitStack()
        self.keys = StreamKeys(settings.streams.prefix)
        self._redis: Redis | None = None
        self._publisher: Publisher | None = None
        self._handler: Handler | None = None
        self._hub: HubClient | None = None
        self._hub_problem = ""

    async def __aenter__(self) -> Core:
        try:
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def _open(self) -> None:
        settings = self._settings
        redis = connect(settings.redis_url, block_ms=settings.streams.block_ms)
        self._stack.push_async_callback(redis.aclose)
        runtime = Runtime.over(settings, redis, self.keys, self._registry)
        self._redis, self._publisher = redis, runtime.publisher
        handler = await self._stack.enter_async_context(self._factory(runtime))
        self._handler = with_log_context(with_activation_metrics(handler, self._metrics))
        # Readiness gets a client of its own: one attempt, a short timeout, no backoff.
        probe = dataclasses.replace(settings.hub, timeout_s=self._ready_timeout_s, max_attempts=1)
        try:
            self._hub = HubClient.from_settings(probe)
        except BotburrowError as exc:
            self._hub_problem = f"not configured: {exc}"
        else:
            self._stack.push_async_callback(self._hub.aclose)

    @property
    def redis(self) -> Redis:
        """The process's Redis client (once entered)."""
        assert self._redis is not None, "Core used outside async with"
        return self._redis

    async def serve(self, event: CloudEvent) -> Served:
        """Run the handler on ``event``; publish what it returns on the results stream."""
        assert self._handler is not None and self._publisher is not None, "Core used outside async with"
        outcome = list(await self._handler(event) or ())
        entry_ids = await self._publisher.publish_many((self.keys.results, e) for e in outcome) if outcome else []
        return Served(
            event_id=str(event["id"]),
            outcome_ids=tuple(str(e["id"]) for e in outcome),
            entry_ids=tuple(entry_ids),
        )

    async def readiness(self) -> Readiness:
        """PING Redis and ask the Hub's health, both at once, each within the ready timeout."""
        redis_state, hub_state = await asyncio.gather(self._check_redis(), self._check_hub())
        return Readiness(checks={"redis": redis_state, "hub": hub_state})

    async def _check_redis(self) -> str:
        assert self._redis is not None, "Core used outside async with"
        return await check_redis(self._redis, self._ready_timeout_s)

    async def _check_hub(self) -> str:
        if self._hub is None:
            return self._hub_problem or "not configured"
        try:
            async with asyncio.timeout(self._ready_timeout_s):
                status = await self._hub.health()
        except TimeoutError:
            return f"no answer within {self._ready_timeout_s:g}s"
        except Exception as exc:  # the Hub client raises HubUnavailable/HubRejected; both mean not ready
            return f"unavailable: {type(exc).__name__}"
        return "ok" if status == "ok" else f"unhealthy: status {status[:40]!r}"
