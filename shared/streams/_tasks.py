"""Task helpers for the pump: periodic jobs, and stopping tasks that resist one cancel."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog

from shared.errors import TransientError

log = structlog.get_logger("botburrow.pump")


async def every(interval_s: float, job: Callable[[], Awaitable[None]], *, until: asyncio.Event) -> None:
    """Run ``job`` every ``interval_s`` (+/-20% jitter, so replicas spread out) until ``until`` is set.

    It returns as soon as ``until`` is set between runs; a run under way completes.

    A transient failure is logged and the next tick tries again; so is a bug: a
    housekeeping job must not take down the activations running beside it.
    """
    while not until.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s * random.uniform(0.8, 1.2)):
                await until.wait()
        if until.is_set():
            return
        try:
            await job()
        except TransientError as exc:
            log.warning("pump.housekeeping_failed", job=job.__name__, error=str(exc))
        except Exception as exc:
            log.error("pump.housekeeping_crashed", job=job.__name__, error=repr(exc), exc_info=exc)


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]], *, reason: str = "pump stopping", timeout_s: float = 10.0
) -> None:
    """Cancel ``tasks`` and wait for them, cancelling again until they end (up to ``timeout_s``).

    One ``cancel()`` is not enough on Python 3.11: ``asyncio.wait_for``, which redis-py
    uses for every send, swallows a cancellation that arrives in the same tick as the
    send completes (CPython gh-86296, fixed in 3.12), and the task carries on.
    """
    pending = {t for t in tasks if not t.done()}
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for task in pending:
            task.cancel(reason)
        _, pending = await asyncio.wait(pending, timeout=0.05)
    if pending:
        log.error("pump.tasks_would_not_stop", tasks=sorted(t.get_name() for t in pending))
