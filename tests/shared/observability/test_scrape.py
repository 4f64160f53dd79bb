"""``ScrapeCollector``: reads on the owner loop at scrape, each source bounded and failing alone."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from shared.observability import ScrapeCollector


async def answers() -> list[Metric]:
    return [GaugeMetricFamily("botburrow_test_answer", "A reader that answers.", value=42)]


async def hangs() -> list[Metric]:
    await asyncio.sleep(30)
    return []


async def breaks() -> list[Metric]:
    raise ConnectionError("redis went away")


async def test_a_slow_or_broken_source_is_left_out_counted_and_the_others_still_exported() -> None:
    registry = CollectorRegistry()
    readers = {"fine": answers, "slow": hangs, "broken": breaks}
    ScrapeCollector(readers, loop=asyncio.get_running_loop(), registry=registry, timeout_s=0.2)
    started = asyncio.get_running_loop().time()
    text = (await asyncio.to_thread(generate_latest, registry)).decode()
    assert asyncio.get_running_loop().time() - started < 2, "bounded by timeout_s, not the slow reader"
    assert "botburrow_test_answer 42.0" in text
    assert 'botburrow_scrape_failures_total{source="slow"} 1.0' in text
    assert 'botburrow_scrape_failures_total{source="broken"} 1.0' in text
    assert 'source="fine"' not in text
    again = (await asyncio.to_thread(generate_latest, registry)).decode()
    assert 'botburrow_scrape_failures_total{source="broken"} 2.0' in again


async def test_a_scrape_on_the_owner_loop_exports_nothing_rather_than_deadlock() -> None:
    registry = CollectorRegistry()
    ScrapeCollector({"fine": answers}, loop=asyncio.get_running_loop(), registry=registry, timeout_s=5)
    text = generate_latest(registry).decode()  # on the loop itself: waiting would block the reads
    assert "botburrow_test_answer" not in text
    assert 'botburrow_scrape_failures_total{source="fine"} 1.0' in text
