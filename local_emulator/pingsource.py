"""Knative's PingSource, emulated: a tick CloudEvent every ``every_s``, each one polling for most of it.

A real PingSource fires once a minute and never sub-minute; the poller's tick then
long-polls the Hub for most of the window (``data.window_s``), so latency is not bound to
the schedule. Here the interval is whatever the caller says (the emulator's
``POLL_INTERVAL``, the benchmark's 10 s). A tick still running when the next fires is
left alone; all are cancelled when this is.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import aiohttp
import structlog

from shared.events import ping, to_http

log = structlog.get_logger("botburrow.emulator")


async def ping_source(url: str, *, every_s: float) -> None:
    """POST a binary-mode ``dev.knative.sources.ping`` event to ``url`` every ``every_s``, until cancelled."""
    ticks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession() as http:
        try:
            while True:
                event = ping(at=datetime.now().astimezone(), window_s=max(1, int(every_s * 0.9)))
                headers, body = to_http(event, binary=True)
                tick = asyncio.create_task(_tick(http, url, headers, body, timeout_s=every_s * 2))
                ticks.add(tick)
                tick.add_done_callback(ticks.discard)
                await asyncio.sleep(every_s)
        finally:
            for tick in ticks:
                tick.cancel()


async def _tick(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes, *, timeout_s: float
) -> None:
    try:
        async with http.post(url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)) as answer:
            if answer.status >= 300:
                log.warning("pingsource.tick_failed", status=answer.status, body=(await answer.text())[:200])
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("pingsource.tick_failed", error=type(exc).__name__)
