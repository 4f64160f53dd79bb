"""The metrics function's scrape-time gauges: what outlives runners scaled to zero.

Read from Redis at every scrape of the metrics function (always running), whatever
runs besides it:

- ``botburrow_stream_lag``, ``_pending``, ``_length``, ``_delayed`` ``{stream}`` of every
  activation stream (group ``runners``) and the results stream (group ``metrics``), and
  ``botburrow_dlq_size``: the pumps' own names and reading (``transport_status``);
- ``botburrow_agent_in_backoff{agent}``: 1 while the agent's circuit breaker is open or
  half-open, 0 when closed (agents with a breaker hash);
- ``botburrow_agent_spend_usd{agent, period=day|month}``: the usage book's totals of the
  current UTC day and month.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric

from shared.accounting import UsageBook
from shared.observability import ScrapeCollector
from shared.poller import CircuitBreaker
from shared.runtime import Runtime
from shared.streams import status_families, transport_groups, transport_status

SCRAPE_TIMEOUT_S = 2.0


def scrape_gauges(
    runtime: Runtime, *, timeout_s: float = SCRAPE_TIMEOUT_S, clock: Callable[[], float] = time.time
) -> ScrapeCollector:
    """Register the scrape-time gauges on ``runtime.registry``; call it on the loop owning ``runtime.redis``."""
    redis, keys, streams = runtime.redis, runtime.keys, runtime.settings.streams
    groups = transport_groups(keys, group=streams.group, results_group=streams.results_group)
    breaker = CircuitBreaker(redis, prefix=keys.prefix)
    book = UsageBook(redis, keys=keys)

    async def stream_gauges() -> list[Metric]:
        return status_families(await transport_status(redis, keys, groups))

    async def backoff_gauges() -> list[Metric]:
        family = GaugeMetricFamily(
            "botburrow_agent_in_backoff",
            "1 while the agent's circuit breaker is open or half-open (no activations), 0 when closed.",
            labels=["agent"],
        )
        for agent, backing_off in sorted((await breaker.in_backoff()).items()):
            family.add_metric([agent], 1.0 if backing_off else 0.0)
        return [family]

    async def spend_gauges() -> list[Metric]:
        family = GaugeMetricFamily(
            "botburrow_agent_spend_usd",
            "USD the usage book holds for the agent in the current UTC day or month.",
            labels=["agent", "period"],
        )
        for agent, spend in sorted((await book.spenders(at=datetime.fromtimestamp(clock(), UTC))).items()):
            family.add_metric([agent, "day"], float(spend.day_usd))
            family.add_metric([agent, "month"], float(spend.month_usd))
        return [family]

    readers = {"streams": stream_gauges, "breakers": backoff_gauges, "spend": spend_gauges}
    return ScrapeCollector(readers, loop=asyncio.get_running_loop(), registry=runtime.registry, timeout_s=timeout_s)
