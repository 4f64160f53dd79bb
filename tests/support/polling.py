"""Waiting for a condition instead of sleeping and hoping: the one poll every test uses."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable


async def eventually(check: Callable[[], object], *, timeout_s: float = 10.0, every_s: float = 0.02) -> object:
    """Poll ``check`` (sync or async) until it returns something truthy, and return that.

    Fails with the last value seen when ``timeout_s`` passes first. The timeout is a bound for a
    broken system, not a speed target: make it generous, and assert speed in ``bench/``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if loop.time() >= deadline:
            raise AssertionError(f"condition not met within {timeout_s}s (last value: {last!r})")
        await asyncio.sleep(every_s)


def eventually_sync(check: Callable[[], object], *, timeout_s: float = 10.0, every_s: float = 0.05) -> object:
    """``eventually`` for code outside an event loop (a process the test started, a thread)."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout_s}s (last value: {last!r})")
        time.sleep(every_s)
