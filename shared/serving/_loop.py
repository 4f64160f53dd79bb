"""A private event loop on a daemon thread, for sync request threads to run coroutines on.

Flask (and the gunicorn threads functions-framework serves it with) call handlers
synchronously; the handlers, the Redis client and the Hub client are asyncio objects
bound to one loop. Every request thread hands its coroutine to this loop and waits for
the result, so many requests share one set of clients and run concurrently.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """One event loop running forever on its own daemon thread until ``stop()``."""

    def __init__(self, *, name: str = "botburrow-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    @property
    def alive(self) -> bool:
        """Whether the loop is still running."""
        return self._thread.is_alive() and not self._loop.is_closed()

    def run(self, coro: Coroutine[Any, Any, T], *, timeout_s: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (its exception is re-raised here).

        Raises:
            TimeoutError: ``timeout_s`` passed first; the coroutine is cancelled.
        """
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self, *, timeout_s: float = 5.0) -> None:
        """Stop the loop and wait for its thread (idempotent)."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
