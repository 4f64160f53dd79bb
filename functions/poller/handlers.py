"""The poller's CloudEvent handlers and their factory.

``dev.knative.sources.ping`` → ``Poller.tick`` (for ``data.window_s``, else
``DEFAULT_WINDOW_S``); ``com.botburrow.hub.notification.created`` → ``Poller.ingest``.
Malformed data or an event of another type is an ``InvalidEvent``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from cloudevents.http import CloudEvent
from prometheus_client import Gauge

from shared.accounting import BudgetGate, UsageBook
from shared.agents import AgentDefinition
from shared.definitions import agent_store
from shared.errors import InvalidEvent
from shared.events import NOTIFICATION_CREATED, PING, NotificationCreatedData, PingData, parse_data
from shared.executors import availability
from shared.hub import HubClient
from shared.poller import CircuitBreaker, Poller, PollerOptions, TickReport
from shared.runtime import Runtime, default_consumer_name
from shared.streams import Handler, Outcome

log = structlog.get_logger(__name__)

DEFAULT_WINDOW_S = 50.0
"""A PingSource fires once a minute; a tick polls for most of that minute."""


class PollerHandlers:
    """Dispatches the poller's two event types to one ``Poller``."""

    def __init__(self, poller: Poller, *, default_window_s: float = DEFAULT_WINDOW_S) -> None:
        self.poller = poller
        self.default_window_s = default_window_s
        self.last_tick: TickReport | None = None
        self.last_ingest: list[str] = []

    async def __call__(self, event: CloudEvent) -> Outcome:
        """Handle one event of either type; nothing is returned for the results stream."""
        kind = str(event["type"])
        if kind == PING:
            await self.handle_ping(event)
        elif kind == NOTIFICATION_CREATED:
            await self.handle_notification(event)
        else:
            raise InvalidEvent("type", f"the poller takes {PING} or {NOTIFICATION_CREATED}, not {kind!r}")
        return None

    async def handle_ping(self, event: CloudEvent) -> None:
        """One tick.

        Raises:
            InvalidEvent: the data is not a ping's.
        """
        data = parse_data(event, PingData) if event.get_data() is not None else PingData()
        self.last_tick = await self.poller.tick(window_s=float(data.window_s or self.default_window_s))

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


@asynccontextmanager
async def handler(runtime: Runtime) -> AsyncIterator[Handler]:
    """Handler factory: one ``Poller`` (Hub client, agent store, budget gate, breaker) per process."""
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
            budget=BudgetGate(book=UsageBook(redis, keys=keys), hub=hub, redis=redis, keys=keys),
            settings=settings.poller,
            options=PollerOptions(holder=default_consumer_name()),
            unrunnable=availability(settings.clis),
            on_unrunnable=report_unrunnable,
        )
        yield PollerHandlers(poller)
