"""What becomes of an event after its handler ran: the retry and dead-letter policy.

======================  ================================================================
handler ...             the event
======================  ================================================================
returns events          is acknowledged; the events go to the results stream
raises ``RetryLater``   goes back on its stream after ``delay_s``; not counted as a failure
raises PermanentError   goes to the dead-letter stream at once
raises anything else    goes back after a backoff, or to the dead-letter stream once it
                        has had ``max_deliveries`` deliveries
======================  ================================================================
"""

from __future__ import annotations

import random

import structlog
from cloudevents.http import CloudEvent

from shared.errors import PermanentError, TransientError

from . import _settle as settle
from ._config import StreamSettings
from ._delivery import Handler, RetryLater
from ._entries import Entry
from ._metrics import StreamMetrics

log = structlog.get_logger("botburrow.pump")


def defer_delay(cfg: StreamSettings, e: Entry) -> float:
    """How long an event whose agent is busy elsewhere waits before it is tried again."""
    delay = min(cfg.defer_max_s, cfg.defer_base_s * 2.0**e.deferrals)
    return delay * random.uniform(0.8, 1.2)


def retry_delay(cfg: StreamSettings, e: Entry) -> float:
    """Backoff after a failed delivery: doubling per delivery, +/-20% jitter."""
    delay = min(cfg.retry_max_s, cfg.retry_base_s * 2.0 ** max(0, e.deliveries - 1))
    return delay * random.uniform(0.8, 1.2)


async def run_handler(handler: Handler, e: Entry, cfg: StreamSettings, metrics: StreamMetrics) -> settle.Settlement:
    """Call ``handler`` on the entry's event and decide its settlement.

    Cancellation is not decided here: it propagates to the pump, which hands the
    event back.
    """
    event = e.event
    assert event is not None
    try:
        return settle.ack(e, await handler(event))
    except RetryLater as signal:
        return settle.requeue(e, delay_s=max(0.0, signal.delay_s), counted=False, last_error=signal.reason)
    except PermanentError as exc:
        metrics.handler_failures.labels(type(exc).__name__).inc()
        log.warning("handler.rejected", event_id=event["id"], agent_id=e.agent, error=str(exc))
        return settle.dead(e, f"handler rejected the event: {exc}", last_error=repr(exc))
    except Exception as exc:
        metrics.handler_failures.labels(type(exc).__name__).inc()
        return _failed(event, e, exc, cfg)


def _failed(event: CloudEvent, e: Entry, exc: Exception, cfg: StreamSettings) -> settle.Settlement:
    error = f"{type(exc).__name__}: {exc}"
    context = {"event_id": event["id"], "agent_id": e.agent, "deliveries": e.deliveries, "error": error}
    if e.deliveries >= cfg.max_deliveries:
        log.error("handler.failed_final", **context, exc_info=exc)
        reason = f"failed {e.deliveries} deliveries (max_deliveries={cfg.max_deliveries})"
        return settle.dead(e, reason, last_error=error)
    delay = retry_delay(cfg, e)
    if isinstance(exc, TransientError) and exc.retry_after_s is not None:
        delay = max(delay, exc.retry_after_s)
    log.warning("handler.failed", **context, retry_in_s=round(delay, 3), exc_info=exc)
    return settle.requeue(e, delay_s=delay, counted=True, last_error=error)
