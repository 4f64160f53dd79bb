"""The definitions handler: a sync tick runs the sync; ``definitions.changed`` bumps versions.

``handler`` is the factory (``functions.definitions.handler:handler``). The sync runs only
when ``SYNC_SOURCES`` is set (and needs the ``R2_*`` bucket); a tick that finds one still
running is skipped. A pushed change also starts a sync in the background, so a push
reaches the bucket in seconds rather than at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import structlog
from cloudevents.http import CloudEvent

from shared.definitions import DEFINITIONS_CHANGED, DefinitionVersions, Sync, invalidation_of
from shared.errors import InvalidEvent
from shared.events import PING
from shared.runtime import Runtime
from shared.streams import Handler, Outcome

log = structlog.get_logger("botburrow.definitions")


class _Background:
    """At most one sync started by a push at a time, cancelled when the process stops."""

    def __init__(self, sync: Sync) -> None:
        self.sync = sync
        self.task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run(), name="definitions-sync")

    async def _run(self) -> None:
        try:
            report = await self.sync.run()
        except Exception as exc:  # a background run has no caller to tell; the next tick retries
            log.warning("definitions.sync_failed", error=str(exc), kind=type(exc).__name__)
        else:
            log.info("definitions.sync_done", ok=report.ok, uploaded=len(report.uploaded))


async def handle(event: CloudEvent, *, versions: DefinitionVersions, background: _Background | None) -> Outcome:
    """A tick syncs (when configured); ``definitions.changed`` bumps the versions it names.

    Raises:
        InvalidEvent: another type, or data that does not parse.
        TransientError: Redis, a source or the bucket failed; the sender may retry.
        ConfigurationError: a source or the bucket refused access.
    """
    if event["type"] == DEFINITIONS_CHANGED:
        invalidation = invalidation_of(event)
        await versions.bump(invalidation.agents, everything=invalidation.everything)
        log.info("definitions.invalidated", **invalidation.as_json())
        if background is not None:
            background.kick()
        return None
    if event["type"] != PING:
        raise InvalidEvent("type", f"the definitions function takes {PING} and {DEFINITIONS_CHANGED} only")
    if background is None:
        log.info("definitions.sync_not_configured")
        return None
    if background.sync.running:
        log.info("definitions.sync_skipped", reason="a sync is still running")
        return None
    report = await background.sync.run()
    log.info("definitions.sync_done", ok=report.ok, uploaded=len(report.uploaded), deleted=len(report.deleted))
    return None


@asynccontextmanager
async def handler(runtime: Runtime) -> AsyncIterator[Handler]:
    """Handler factory: the versions over the process's Redis, and the sync when ``SYNC_SOURCES`` is set.

    Raises:
        ConfigurationError: ``SYNC_SOURCES`` is set but the ``R2_*`` bucket is not.
    """
    versions = DefinitionVersions(runtime.redis, prefix=runtime.keys.prefix)
    background = None
    if runtime.settings.definitions.sync_sources:
        background = _Background(Sync.from_settings(runtime.settings, versions=versions))
    try:
        yield partial(handle, versions=versions, background=background)
    finally:
        if background is not None and background.task is not None:
            background.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background.task
