"""``ScrapeCollector``: gauges read from Redis when Prometheus scrapes, not sampled beforehand.

A prometheus_client collector is synchronous and the Redis client is async, bound to
the loop it was created on. ``collect()`` therefore hands the reads to that loop and
waits, bounded by ``timeout_s``; it must be called off that loop (functions-framework's
request threads do; a pump's ``/metrics`` renders in a worker thread for this reason)::

    scrape thread ── collect() ──run_coroutine_threadsafe──► owner loop: each reader, concurrently
                 ◄──── families of the readers that answered ────┘

Each reader is named (its ``source``) and fails alone: a reader that raises or runs
out of time exports nothing, counts ``botburrow_scrape_failures_total{source}`` and
logs once per scrape; the scrape itself always succeeds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Iterator, Mapping

import structlog
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

log = structlog.get_logger("botburrow.metrics")

Reader = Callable[[], Awaitable[list[Metric]]]
"""One source of families, read on the owner loop at scrape time."""


class ScrapeCollector(Collector):
    """Families read by async ``readers`` on ``loop`` at each scrape; register it on a registry.

    Args:
        readers: source name -> reader.
        loop: the loop the readers' clients belong to.
        registry: where it registers itself (its failure counter with it).
        timeout_s: how long one scrape waits for the readers, all together.
    """

    def __init__(
        self,
        readers: Mapping[str, Reader],
        *,
        loop: asyncio.AbstractEventLoop,
        registry: CollectorRegistry,
        timeout_s: float = 2.0,
    ) -> None:
        self._readers = dict(readers)
        self._loop = loop
        self._timeout_s = timeout_s
        # Not on the registry: collected last by ``collect`` so a scrape shows its own failures.
        self.failures = Counter(
            "botburrow_scrape_failures_total",
            "Scrape-time reads that failed or timed out (their metrics were left out), by source.",
            ["source"],
            registry=None,
        )
        registry.register(self)

    def describe(self) -> list[Metric]:
        """Nothing up front: describing would read Redis at registration."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The families of every reader that answered in time, then the failure counter."""
        yield from self._read()
        yield from self.failures.collect()

    def _read(self) -> Iterator[Metric]:
        try:
            on_owner = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_owner = False
        if on_owner:  # waiting here would block the very loop the reads need
            self._failed(self._readers, "called on its own loop")
            return
        reads = self._read_all()
        try:
            future = asyncio.run_coroutine_threadsafe(reads, self._loop)
        except RuntimeError:  # the loop is closed: the process is stopping
            reads.close()
            self._failed(self._readers, "loop closed")
            return
        try:
            answers = future.result(timeout=self._timeout_s + 0.5)
        except (concurrent.futures.TimeoutError, RuntimeError) as exc:
            future.cancel()
            self._failed(self._readers, type(exc).__name__)
            return
        failed = {name: answer for name, answer in answers.items() if isinstance(answer, BaseException)}
        if failed:
            self._failed(failed, ", ".join(sorted({type(e).__name__ for e in failed.values()})))
        for answer in answers.values():
            if not isinstance(answer, BaseException):
                yield from answer

    async def _read_all(self) -> dict[str, list[Metric] | BaseException]:
        async def one(reader: Reader) -> list[Metric]:
            async with asyncio.timeout(self._timeout_s):
                return await reader()

        names = list(self._readers)
        answers = await asyncio.gather(*(one(self._readers[n]) for n in names), return_exceptions=True)
        return dict(zip(names, answers, strict=True))

    def _failed(self, sources: Mapping[str, object], error: str) -> None:
        for source in sources:
            self.failures.labels(source=source).inc()
        log.warning("metrics.scrape_failed", sources=sorted(sources), error=error)
