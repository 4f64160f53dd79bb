"""The definitions handler: a sync tick runs the sync; ``definitions.changed`` bumps versions.

``handler`` is the factory (``functions.definitions.handler:handler``). The sync runs only
when ``SYNC_SOURCES`` is set (and needs the ``R2_*`` bucket); a tick that finds one still
running is skipped. A pushed change also starts a sync in the background, so a push
reaches the bucket in seconds rather than at the next tick.

Metrics (on the process's registry): ``botburrow_definitions_syncs_total{result}``
(``ok``, ``rejected``, ``failed``), ``botburrow_definitions_objects_total{action}``
(``uploaded``, ``deleted``, ``rejected``) and ``botburrow_definitions_invalidations_total{scope}``
(``agent``, ``all``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import structlog
from cloudevents.http import CloudEvent
from prometheus_client import CollectorRegistry, Counter

from shared.definitions import DEFINITIONS_CHANGED, DefinitionVersions, Invalidation, Sync, invalidation_of
from shared.errors import InvalidEvent
from shared.events import PING
from shared.runtime import Runtime
from shared.streams import Handler, Outcome

log = structlog.get_logger("botburrow.definitions")


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.syncs = Counter("botburrow_definitions_syncs", "Sync runs, by result", ["result"], registry=registry)
        self.objects = Counter(
            "botburrow_definitions_objects",
            "Bucket objects a sync wrote, and units it refused",
            ["action"],
            registry=registry,
        )
        self.invalidations = Counter(
            "botburrow_definitions_invalidations", "Version bumps, by scope", ["scope"], registry=registry
        )

    def invalidated(self, invalidation: Invalidation) -> None:
        if invalidation.everything:
            self.invalidations.labels(scope="all").inc()
        self.invalidations.labels(scope="agent").inc(len(invalidation.agents))


class _Syncer:
    """The sync of this process, counted; at most one started by a push at a time, cancelled at exit."""

    def __init__(self, sync: Sync, metrics: _Metrics) -> None:
        self.sync = sync
        self.metrics = metrics
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """One sync, counted and logged.

        Raises:
            TransientError, ConfigurationError: as ``Sync.run``.
        """
        try:
            report = await self.sync.run()
        except Exception:
            self.metrics.syncs.labels(result="failed").inc()
            raise
        self.metrics.syncs.labels(result="ok" if not report.rejected else "rejected").inc()
        self.metrics.objects.labels(action="uploaded").inc(len(report.uploaded))
        self.metrics.objects.labels(action="deleted").inc(len(report.deleted))
        self.metrics.objects.labels(action="rejected").inc(len(report.rejected))
        if report.problem is None:
            self.metrics.invalidated(report.invalidated)
        log.info("definitions.sync_done", ok=report.ok, uploaded=len(report.uploaded), deleted=len(report.deleted))

    def kick(self) -> None:
        """Start a sync in the background, unless one started this way still runs."""
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._background(), name="definitions-sync")

    async def _background(self) -> None:
        try:
            await self.run()
        except Exception as exc:  # a background run has no caller to tell; the next tick retries
            log.warning("definitions.sync_failed", error=str(exc), kind=type(exc).__name__)

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def handle(
    event: CloudEvent, *, versions: DefinitionVersions, syncer: _Syncer | None, metrics: _Metrics
) -> Outcome:
    """A tick syncs (when configured); ``definitions.changed`` bumps the versions it names.

    Raises:
        InvalidEvent: another type, or data that does not parse.
        TransientError: Redis, a source or the bucket failed; the sender may retry.
        ConfigurationError: a source or the bucket refused access.
    """
    if event["type"] == DEFINITIONS_CHANGED:
        invalidation = invalidation_of(event)
        await versions.bump(invalidation.agents, everything=invalidation.everything)
        metrics.invalidated(invalidation)
        log.info("definitions.invalidated", **invalidation.as_json())
        if syncer is not None:
            syncer.kick()
        return None
    if event["type"] != PING:
        raise InvalidEvent("type", f"the definitions function takes {PING} and {DEFINITIONS_CHANGED} only")
    if syncer is None:
        log.info("definitions.sync_not_configured")
    elif syncer.sync.running:
        log.info("definitions.sync_skipped", reason="a sync is still running")
    else:
        await syncer.run()
    return None


@asynccontextmanager
async def handler(runtime: Runtime) -> AsyncIterator[Handler]:
    """Handler factory: the versions over the process's Redis, and the sync when ``SYNC_SOURCES`` is set.

    Raises:
        ConfigurationError: ``SYNC_SOURCES`` is set but the ``R2_*`` bucket is not.
    """
    versions = DefinitionVersions(runtime.redis, prefix=runtime.keys.prefix)
    metrics = _Metrics(runtime.registry)
    syncer = None
    if runtime.settings.definitions.sync_sources:
        syncer = _Syncer(Sync.from_settings(runtime.settings, versions=versions), metrics)
    try:
        yield partial(handle, versions=versions, syncer=syncer, metrics=metrics)
    finally:
        if syncer is not None:
            await syncer.aclose()
