"""The periodic flusher the metrics process runs beside its consumer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from shared.errors import TransientError
from shared.hub import HubClient

from ._outbox import ConsumptionOutbox

log = structlog.get_logger("botburrow.accounting")

Sleep = Callable[[float], Awaitable[None]]


async def run_flusher(
    outbox: ConsumptionOutbox,
    hub: HubClient,
    *,
    interval_s: float = 5.0,
    max_batch: int = 50,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Flush ``outbox`` to the Hub every ``interval_s`` until cancelled.

    A transient failure (Hub or Redis unavailable) is logged and tried again next time;
    records are never dropped. Anything else is a bug and ends the loop with the error.
    """
    while True:
        try:
            sent = await outbox.flush(hub, max_batch=max_batch)
        except TransientError as exc:
            _raise_if_cancelling(exc)
            log.warning("accounting.flush_failed", error=type(exc).__name__, detail=str(exc))
        else:
            if sent:
                log.debug("accounting.flush_done", sent=sent)
        _raise_if_cancelling()
        await sleep(interval_s)


def _raise_if_cancelling(cause: BaseException | None = None) -> None:
    """Honour a cancellation that a client swallowed (or turned into a connection error).

    redis-py and the HTTP stack may absorb a ``CancelledError`` that lands mid-call; the
    task's pending cancel count still says it was asked to stop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from cause
