"""Task helpers for the pump: periodic jobs, and stopping tasks that resist one cancel."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog

from shared.errors import TransientError

log = structlog.get_logger("botburrow.pump")

K = TypeVar("K")
T = TypeVar("T")

BACKOFF_MAX_S = 2.0
"""The longest a pump loop waits between tries while Redis is down: also how late, at
worst, it notices that Redis is back."""


@dataclass
class Backoff:
    """The consecutive failures of one loop: how long to wait before its next try.

    Only the 1st, 2nd, 4th, 8th... failure is to be logged: an outage of Redis logs a
    handful of lines per loop, not one per try.
    """

    base_s: float
    max_s: float = BACKOFF_MAX_S
    failures: int = 0

    def failed(self) -> float:
        """Count a failure; the delay before the next try (doubling, capped, jittered down by up to 20%)."""
        self.failures += 1
        return min(self.max_s, self.base_s * 2.0**self.failures) * random.uniform(0.8, 1.0)

    @property
    def loggable(self) -> bool:
        """Whether the failure just counted is one to log (its count is a power of two)."""
        return self.failures & (self.failures - 1) == 0

    def succeeded(self) -> int:
        """Reset; the number of failures there had been."""
        failures, self.failures = self.failures, 0
        return failures


async def every(interval_s: float, job: Callable[[], Awaitable[None]], *, until: asyncio.Event) -> None:
    """Run ``job`` every ``interval_s`` (+/-20% jitter, so replicas spread out) until ``until`` is set.

    It returns as soon as ``until`` is set between runs; a run under way completes.

    A transient failure (Redis down or loading) is logged and a later tick tries again,
    the wait doubling up to ``BACKOFF_MAX_S`` while it keeps failing (``Backoff``: only
    the 1st, 2nd, 4th... failure is logged); so is a bug: a housekeeping job must not take
    down the activations running beside it.
    """
    backoff = Backoff(base_s=interval_s)
    delay_s = interval_s
    while not until.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(delay_s, interval_s * random.uniform(0.8, 1.2))):
                await until.wait()
        if until.is_set():
            return
        delay_s = interval_s
        try:
            await job()
        except TransientError as exc:
            delay_s = backoff.failed()
            if backoff.loggable:
                log.warning("pump.housekeeping_failed", job=job.__name__, error=str(exc), consecutive=backoff.failures)
            continue
        except Exception as exc:
            log.error("pump.housekeeping_crashed", job=job.__name__, error=repr(exc), exc_info=exc)
        if failures := backoff.succeeded():
            log.info("pump.housekeeping_recovered", job=job.__name__, failures=failures)


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


class SameTurn(Generic[K, T]):
    """One ``read(key)`` for the callers that ask for the same key in the same event-loop turn.

    The conversations of an activation start side by side, and each asks Redis the same
    question before its first LLM call (is the activation cancelled? may the agent spend?).
    The first caller waits one turn, then reads once for everyone who asked meanwhile. The
    read is sent after every one of them asked, so each answer is as fresh as a read of its
    own would have been; a caller that comes once the read is sent waits for the next one.

    An error of the read is every caller's; a caller cancelled while it waits leaves the
    others waiting; if the reading caller is cancelled, the others read for themselves.
    """

    def __init__(self, read: Callable[[K], Awaitable[T]]) -> None:
        self._read = read
        self._open: dict[K, list[asyncio.Future[T]]] = {}

    async def __call__(self, key: K) -> T:
        joined = self._open.get(key)
        if joined is not None:
            mine: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            joined.append(mine)
            try:
                return await mine
            except _ReaderCancelled:
                return await self._read(key)
        waiting: list[asyncio.Future[T]] = []
        self._open[key] = waiting
        try:
            await asyncio.sleep(0)  # the callers of this turn join
        except BaseException:
            self._open.pop(key, None)
            _answer(waiting, error=_ReaderCancelled())
            raise
        del self._open[key]  # this read is sent now: a caller from here on waits for a read of its own
        try:
            value = await self._read(key)
        except asyncio.CancelledError:
            _answer(waiting, error=_ReaderCancelled())
            raise
        except BaseException as exc:
            _answer(waiting, error=exc)
            raise
        for future in waiting:
            if not future.done():
                future.set_result(value)
        return value


class _ReaderCancelled(Exception):
    """The caller that was to read for the others was cancelled: they read for themselves."""


def _answer(waiting: list[asyncio.Future[Any]], *, error: BaseException) -> None:
    for future in waiting:
        if not future.done():
            future.set_exception(error)


X = TypeVar("X")


class TurnBatch(Generic[X, T]):
    """The items callers hand in during one event-loop turn, written by one ``flush(items)``.

    Conversations of an activation that finish side by side each book a cost or set a
    done-marker: one pipeline writes them all. The flush starts one turn after the first
    item came (so it is as prompt as a write of each caller's own) and runs in a task of
    its own: a caller cancelled meanwhile cannot cut it short, so an item is never written
    twice by a retry. Each caller gets its item's result, or the flush's error.
    """

    def __init__(self, flush: Callable[[list[X]], Awaitable[list[T]]]) -> None:
        self._flush = flush
        self._items: list[X] | None = None
        self._task: asyncio.Task[list[T]] | None = None
        self._tasks: set[asyncio.Task[list[T]]] = set()

    async def __call__(self, item: X) -> T:
        if self._items is None or self._task is None:
            self._items = []
            self._task = asyncio.create_task(self._run(self._items))
            self._tasks.add(self._task)  # held until done: the loop keeps only weak references
            self._task.add_done_callback(self._finished)
        task, index = self._task, len(self._items)
        self._items.append(item)
        results = await asyncio.shield(task)
        return results[index]

    def _finished(self, task: asyncio.Task[list[T]]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here too: every caller may have been cancelled meanwhile

    async def _run(self, items: list[X]) -> list[T]:
        await asyncio.sleep(0)  # the callers of this turn hand in theirs
        self._items = self._task = None  # items from here on go to the next flush
        return await self._flush(items)
