"""``Sync``: copy the validated ``agents/`` and ``skills/`` of the sources into the bucket, then invalidate.

One run, in order:

1. fetch every source into a temporary folder (git shallow, or the GitHub API); if any
   cannot be fetched the run stops there and the bucket is untouched: a source that is
   down must not read as a source that deleted everything;
2. validate every unit (``_tree``); a rejected one is reported with its file and field;
3. list the bucket; upload what differs by content (skills first, so a new agent finds
   its skills), then delete objects under ``agents/`` and ``skills/`` that no source has
   (never those of a rejected unit, which its source still has);
4. bump the versions (``DefinitionVersions``) of exactly the agents uploaded to or
   deleted from, or of all when any skill changed.

A second run with nothing changed uploads and deletes nothing and invalidates nothing.
Sources that hold no unit at all are refused, rather than emptying the bucket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from pathlib import Path

import structlog

from shared.agents import is_agent_name, s3_client
from shared.errors import ConfigurationError, TransientError
from shared.settings import DefinitionsSettings, Settings, SyncSource, SyncSourceKind

from ._bucket import Bucket, md5_hex
from ._git import fetch_git
from ._github import fetch_github
from ._push import Invalidation
from ._report import SyncReport
from ._tree import Tree
from ._versions import DefinitionVersions

log = structlog.get_logger("botburrow.definitions")


class Sync:
    """The sync of one deployment: its sources, its bucket and (optionally) its versions."""

    def __init__(
        self, *, settings: DefinitionsSettings, bucket: Bucket, versions: DefinitionVersions | None = None
    ) -> None:
        """Copy ``settings.sync_sources`` into ``bucket``; bump ``versions`` after (None: no invalidation).

        Raises:
            ConfigurationError: no sync sources are configured.
        """
        if not settings.sync_sources:
            raise ConfigurationError("nothing to sync: set SYNC_SOURCES (github:owner/repo[@ref] or git URLs)")
        self.settings = settings
        self.bucket = bucket
        self.versions = versions
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, versions: DefinitionVersions | None) -> Sync:
        """The sync ``SYNC_SOURCES`` → the ``R2_*`` bucket.

        Raises:
            ConfigurationError: no sources, or no bucket (the sync writes where the runners read).
        """
        r2 = settings.agents.r2
        if r2 is None:
            raise ConfigurationError("the sync writes into the agents' bucket: set R2_ENDPOINT, R2_BUCKET, ...")
        client = s3_client(
            endpoint_url=r2.endpoint,
            access_key_id=r2.access_key_id.reveal(),
            secret_access_key=r2.secret_access_key.reveal(),
        )
        bucket = Bucket(client=client, bucket=r2.bucket, prefix=r2.prefix)
        return cls(settings=settings.definitions, bucket=bucket, versions=versions)

    @property
    def running(self) -> bool:
        """Whether a run is under way in this process."""
        return self._lock.locked()

    async def run(self) -> SyncReport:
        """One sync (runs in this process never overlap; a second waits for the first).

        Raises:
            TransientError: a source or the bucket could not be reached; the bucket may be
                partly written (the next run finishes the job), nothing is invalidated.
            ConfigurationError: a source or the bucket refused access, or the sources hold nothing.
        """
        async with self._lock:
            report = await asyncio.to_thread(self._write)
            invalidated = report.invalidated
            if self.versions is None or invalidated.empty:
                return report
            try:
                await self.versions.bump(invalidated.agents, everything=invalidated.everything)
            except TransientError as exc:
                log.warning("definitions.invalidation_failed", error=str(exc))
                return dataclasses.replace(report, problem=f"written, but not invalidated: {exc}")
            log.info("definitions.invalidated", **invalidated.as_json())
            return report

    def _write(self) -> SyncReport:
        with tempfile.TemporaryDirectory(prefix="botburrow-sync-") as work:
            tree = Tree()
            for i, source in enumerate(self.settings.sync_sources):
                root = self._fetch(source, Path(work) / f"source-{i}")
                tree.add_source(root, label=str(source))
        if not tree.units:
            raise ConfigurationError(
                f"the sync sources hold no agents/ or skills/ ({', '.join(map(str, self.settings.sync_sources))}): "
                "refusing to empty the bucket"
            )
        present = self.bucket.listing()
        changed = sorted((p for p, data in tree.files.items() if present.get(p) != md5_hex(data)), key=_skills_first)
        kept = tuple(f"{unit}/" for unit in tree.rejected_units)
        gone = sorted(p for p in present if p not in tree.files and not p.startswith(kept))
        for path in changed:
            self.bucket.put(path, tree.files[path])
        self.bucket.delete(gone)
        report = SyncReport(
            uploaded=tuple(changed),
            deleted=tuple(gone),
            unchanged=tuple(sorted(set(tree.files) - set(changed))),
            rejected=tuple(sorted(tree.rejected, key=lambda r: r.unit)),
            invalidated=_invalidation([*changed, *gone]),
        )
        log.info(
            "definitions.synced",
            uploaded=len(report.uploaded),
            deleted=len(report.deleted),
            unchanged=len(report.unchanged),
            rejected=[r.as_json() for r in report.rejected],
        )
        return report

    def _fetch(self, source: SyncSource, into: Path) -> Path:
        timeout_s = self.settings.git_timeout_s
        if source.kind is SyncSourceKind.GITHUB:
            token = self.settings.github_token
            return fetch_github(source, into, api_url=self.settings.github_api_url, token=token, timeout_s=timeout_s)
        return fetch_git(source, into, timeout_s=timeout_s)


def _skills_first(path: str) -> tuple[bool, str]:
    return (not path.startswith("skills/"), path)


def _invalidation(paths: list[str]) -> Invalidation:
    if any(p.startswith("skills/") for p in paths):
        return Invalidation(everything=True, reason="a skill changed")
    agents = frozenset(n for p in paths if p.startswith("agents/") and is_agent_name(n := p.split("/")[1]))
    return Invalidation(agents=agents, reason="synced" if agents else "")
