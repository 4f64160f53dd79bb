"""``botburrow sync --once``: copy ``SYNC_SOURCES`` into the agents' bucket now, as the sync tick does.

Reads the settings like the definitions function: ``SYNC_SOURCES``, the ``R2_*`` bucket,
``REDIS_URL`` and ``STREAM_PREFIX`` (to invalidate what changed in every process).
Prints one line per upload, deletion and rejection and a summary (``--json``: one object).
"""

from __future__ import annotations

import argparse
import sys

import orjson
import structlog

from shared.definitions import DefinitionVersions, Sync
from shared.logs import configure_logging
from shared.settings import Settings
from shared.streams import connect


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sync = sub.add_parser(
        "sync",
        help="copy validated agents/ and skills/ from SYNC_SOURCES into the bucket; exit 1 if any is rejected",
    )
    sync.add_argument("--once", action="store_true", required=True, help="one sync, now (the schedule is Knative's)")
    sync.add_argument("--json", action="store_true", help="the report as one JSON object")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """One sync; 0 when all went in, 1 when anything was rejected or could not be invalidated."""
    if not structlog.is_configured():
        configure_logging(level="error", json=False, secrets=settings.secrets())  # stdout carries the report
    redis = connect(settings.redis_url)
    try:
        sync = Sync.from_settings(settings, versions=DefinitionVersions(redis, prefix=settings.streams.prefix))
        report = await sync.run()
    finally:
        await redis.aclose()
    print(orjson.dumps(report.as_json()).decode() if args.json else "\n".join(report.lines()))
    if report.problem:
        print(f"botburrow: {report.problem}", file=sys.stderr)
    return 0 if report.ok else 1
