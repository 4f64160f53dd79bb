"""The metrics handler: one completed activation into the usage book and the consumption outbox.

``handler`` is the factory (``METRICS_HANDLER=functions.metrics.handler:handler``); it owns
the Hub client and the flusher task for the life of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial

import structlog
from cloudevents.http import CloudEvent

from shared.accounting import AccountingMetrics, ConsumptionOutbox, UsageBook, run_flusher
from shared.errors import InvalidEvent, TransientError
from shared.events import ACTIVATION_COMPLETED, ActivationCompleted, parse_data
from shared.hub import HubClient
from shared.runtime import Runtime
from shared.streams import Handler, Outcome

from .gauges import scrape_gauges

log = structlog.get_logger("botburrow.metrics")

FLUSH_INTERVAL_S = 2.0
FLUSH_MAX_BATCH = 50
FINAL_FLUSH_TIMEOUT_S = 5.0


async def handle(event: CloudEvent, *, book: UsageBook, clock: Callable[[], datetime] | None = None) -> Outcome:
    """Record one ``com.botburrow.activation.completed`` event (idempotent per event id).

    The spend is booked on the UTC day of the event's ``time`` (when the activation
    finished), so a redelivery a day later lands on the same day.

    Raises:
        InvalidEvent: another event type, data that does not parse, or a bad ``time``.
        StreamUnavailable: Redis failed; retrying is safe.
    """
    if event["type"] != ACTIVATION_COMPLETED:
        raise InvalidEvent("type", f"the metrics function takes {ACTIVATION_COMPLETED} only")
    completed = parse_data(event, ActivationCompleted)
    at = _time_of(event) or (clock() if clock else datetime.now(UTC))
    counted = await book.record(str(event["id"]), completed, at=at)
    log.info(
        "metrics.recorded" if counted else "metrics.duplicate",
        event_id=event["id"],
        agent_id=completed.agent_id,
        outcome=completed.outcome,
        cost_usd=completed.usage.cost_usd,
    )
    return None


def _time_of(event: CloudEvent) -> datetime | None:
    raw = event.get("time")
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(str(raw))
    except ValueError as exc:
        raise InvalidEvent("time", "not an RFC 3339 timestamp") from exc
    if at.tzinfo is None:
        raise InvalidEvent("time", "has no timezone")
    return at


@asynccontextmanager
async def handler(
    runtime: Runtime,
    *,
    hub: HubClient | None = None,
    flush_interval_s: float = FLUSH_INTERVAL_S,
    flush_max_batch: int = FLUSH_MAX_BATCH,
) -> AsyncIterator[Handler]:
    """Handler factory: the metrics handler, with the consumption flusher running beside it.

    On exit the flusher is cancelled and one last flush is tried (bounded by
    ``FINAL_FLUSH_TIMEOUT_S``); whatever it cannot send stays in the outbox. The
    scrape-time gauges (``gauges``) are registered on the process's registry.
    """
    scrape_gauges(runtime)
    metrics = AccountingMetrics(runtime.registry)
    outbox = ConsumptionOutbox(runtime.redis, keys=runtime.keys, metrics=metrics)
    book = UsageBook(runtime.redis, keys=runtime.keys, ledger=runtime.ledger, outbox=outbox, metrics=metrics)
    async with contextlib.AsyncExitStack() as stack:
        if hub is None:
            hub = await stack.enter_async_context(HubClient.from_settings(runtime.settings.hub))
        flusher = asyncio.create_task(
            run_flusher(outbox, hub, interval_s=flush_interval_s, max_batch=flush_max_batch), name="metrics-flusher"
        )
        try:
            yield partial(handle, book=book)
        finally:
            flusher.cancel()
            # gather, not a bare await: a cancellation of this task itself must still propagate.
            (ended,) = await asyncio.gather(flusher, return_exceptions=True)
            if not isinstance(ended, asyncio.CancelledError):
                log.error("metrics.flusher_died", error=repr(ended))
            await _final_flush(outbox, hub, max_batch=flush_max_batch)


async def _final_flush(outbox: ConsumptionOutbox, hub: HubClient, *, max_batch: int) -> None:
    try:
        async with asyncio.timeout(FINAL_FLUSH_TIMEOUT_S):
            sent = await outbox.flush(hub, max_batch=max_batch)
    except (TransientError, TimeoutError) as exc:
        log.warning("metrics.final_flush_failed", error=type(exc).__name__)
    else:
        log.info("metrics.final_flush", sent=sent)
