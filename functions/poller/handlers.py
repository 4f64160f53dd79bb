"""The poller's CloudEvent handlers and their factories.

``dev.knative.sources.ping`` → ``Poller.tick`` (for ``data.window_s``, else
``DEFAULT_WINDOW_S``, at most ``MAX_WINDOW_S``); ``com.botburrow.hub.notification.created``
→ ``Poller.ingest``. Malformed data or an event of a type the handler does not take is an
``InvalidEvent``.

One ``Poller`` built one way (``_poller_handlers``), three factories by what they take:

==================  ===============================  ===========================================
factory             takes                            served by
==================  ===============================  ===========================================
``tick_handler``    ticks                            the poller target (``main.py``): one at a time
``ingest_handler``  pushed notifications             the ingest target (``ingest.py``): many at once,
                                                     never waiting behind a tick (no poller lease)
``handler``         both                             a single process doing both (tests, the pump)
==================  ===============================  ===========================================
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import structlog
from cloudevents.http import CloudEvent
from prometheus_client import Gauge

from shared.accounting import BudgetGate, BudgetMetrics, UsageBook
from shared.agents import AgentDefinition
from shared.definitions import agent_store
from shared.errors import InvalidEvent
from shared.events import NOTIFICATION_CREATED, PING, NotificationCreatedData, PingData, parse_data
from shared.executors import availability
from shared.hub import HubClient
from shared.operator import Steering
from shared.poller import CircuitBreaker, Poller, PollerOptions, TickReport
from shared.runtime import Runtime, default_consumer_name
from shared.streams import Handler, Outcome

log = structlog.get_logger(__name__)

DEFAULT_WINDOW_S = 50.0
"""A PingSource fires once a minute; a tick polls for most of that minute."""
MAX_WINDOW_S = 60
"""The longest a tick polls, whatever its ``window_s`` says: the next one comes within a minute."""
BOTH = frozenset({PING, NOTIFICATION_CREATED})


class PollerHandlers:
    """Dispatches the poller's event types (those in ``accepts``) to one ``Poller``."""

    def __init__(
        self, poller: Poller, *, default_window_s: float = DEFAULT_WINDOW_S, accepts: frozenset[str] = BOTH
    ) -> None:
        self.poller = poller
        self.default_window_s = default_window_s
        self.accepts = accepts
        self.last_tick: TickReport | None = None
        self.last_ingest: list[str] = []

    async def __call__(self, event: CloudEvent) -> Outcome:
        """Handle one event of a type it takes; nothing is returned for the results stream."""
        kind = str(event["type"])
        if kind == PING and kind in self.accepts:
            await self.handle_ping(event)
        elif kind == NOTIFICATION_CREATED and kind in self.accepts:
            await self.handle_notification(event)
        else:
            raise InvalidEvent("type", f"this target takes {' or '.join(sorted(self.accepts))}, not {kind!r}")
        return None

    async def handle_ping(self, event: CloudEvent) -> None:
        """One tick.

        Raises:
            InvalidEvent: the data is not a ping's.
        """
        data = parse_data(event, PingData) if event.get_data() is not None else PingData()
        window_s = min(float(data.window_s or self.default_window_s), MAX_WINDOW_S)
        self.last_tick = await self.poller.tick(window_s=window_s)

    async def handle_notification(self, event: CloudEvent) -> None:
        """Queue the activation a pushed notification calls for, at once.

        Raises:
            InvalidEvent: the data names neither an agent nor a notification, or no agent.
            TransientError: the Hub or Redis failed; the sender retries.
        """
        data = parse_data(event, NotificationCreatedData)
        if not data.agent_id and event.get("subject"):
            data = data.model_copy(update={"agent_id": str(event["subject"])})
        self.last_ingest = await self.poller.ingest(data)
        log.info("poller.ingested", event_id=str(event["id"]), published=len(self.last_ingest))


def handler(runtime: Runtime) -> AbstractAsyncContextManager[Handler]:
    """Handler factory taking ticks and pushed notifications: one ``Poller`` per process."""
    return _poller_handlers(runtime, accepts=BOTH)


def tick_handler(runtime: Runtime) -> AbstractAsyncContextManager[Handler]:
    """Handler factory of the poller target: PingSource ticks only."""
    return _poller_handlers(runtime, accepts=frozenset({PING}))


def ingest_handler(runtime: Runtime) -> AbstractAsyncContextManager[Handler]:
    """Handler factory of the ingest target: pushed notifications only (``Poller.ingest``, no lease)."""
    return _poller_handlers(runtime, accepts=frozenset({NOTIFICATION_CREATED}))


@asynccontextmanager
async def _poller_handlers(runtime: Runtime, *, accepts: frozenset[str]) -> AsyncIterator[Handler]:
    """One ``Poller`` (Hub client, agent store, budget gate, breaker) dispatching the types in ``accepts``."""
    settings = runtime.settings
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(HubClient.from_settings(settings.hub))
        redis, keys = runtime.redis, runtime.keys
        unrunnable = Gauge(
            "botburrow_poller_agent_unrunnable",
            "1 for an agent whose executor cannot run in this deployment: the poller queues none of its work",
            ["agent", "type"],
            registry=runtime.registry,
        )

        def report_unrunnable(definition: AgentDefinition, _why: str) -> None:
            unrunnable.labels(agent=definition.name, type=definition.config.type).set(1)

        poller = Poller(
            redis=redis,
            keys=keys,
            hub=hub,
            agents=agent_store(settings.agents, redis, prefix=keys.prefix),
            breaker=CircuitBreaker(redis, prefix=keys.prefix),
            budget=BudgetGate(
                book=UsageBook(redis, keys=keys),
                hub=hub,
                redis=redis,
                keys=keys,
                metrics=BudgetMetrics.on(runtime.registry),
                where="poller",
            ),
            settings=settings.poller,
            options=PollerOptions(holder=default_consumer_name()),
            unrunnable=availability(settings.clis),
            on_unrunnable=report_unrunnable,
            paused=Steering(redis, keys=keys).is_paused,
        )
        yield PollerHandlers(poller, accepts=accepts)
