"""``botburrow streams`` and ``botburrow dlq list|replay``: the streams as KEDA sees them, and dead letters.

Reads ``REDIS_URL`` and ``STREAM_PREFIX`` like the runners do.
"""

from __future__ import annotations

import argparse
import sys

import orjson

from shared.settings import Settings
from shared.streams import DeadLetters, Redis, Scripts, StreamKeys, connect, transport_groups, transport_status


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = sub.add_parser("dlq", help="inspect and replay dead-lettered events")
    dlq_sub = dlq.add_subparsers(dest="action", required=True)
    listing = dlq_sub.add_parser("list", help="list dead letters, oldest first")
    listing.add_argument("--limit", type=int, default=100, help="most entries to show (default 100)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    replay = dlq_sub.add_parser("replay", help="put dead letters back on their stream with a fresh delivery count")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", help="dead-letter entry id, or the original event id")
    which.add_argument("--all", action="store_true", help="every dead letter")
    streams = sub.add_parser("streams", help="length, lag, pending and delayed entries of each stream")
    streams.add_argument("--json", action="store_true", help="one JSON object per line")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """``streams``, ``dlq list`` or ``dlq replay``."""
    redis = connect(settings.redis_url)
    keys = StreamKeys(settings.streams.prefix)
    try:
        if args.command == "streams":
            return await _streams(redis, keys, settings, as_json=args.json)
        letters = DeadLetters(redis, Scripts(redis), keys)
        if args.action == "list":
            return await _list(letters, limit=args.limit, as_json=args.json)
        return await _replay(letters, ident=args.id, everything=args.all)
    finally:
        await redis.aclose()


async def _list(letters: DeadLetters, *, limit: int, as_json: bool) -> int:
    rows = await letters.entries(limit=limit)
    if as_json:
        for row in rows:
            print(orjson.dumps(row.as_dict()).decode())
        return 0
    total = await letters.count()
    print(f"{total} dead letter(s){f', showing {len(rows)}' if len(rows) < total else ''}")
    for row in rows:
        print(
            f"{row.dlq_id}  {row.at:%Y-%m-%d %H:%M:%S}Z  {row.origin}  event={row.event_id or '-'}  "
            f"agent={row.subject or '-'}  deliveries={row.deliveries}"
            + (f"  dead-lettered {row.count} times since {row.first_at:%Y-%m-%d %H:%M:%S}Z" if row.count > 1 else "")
        )
        print(f"    reason: {row.reason}")
        if row.last_error:
            print(f"    last error: {row.last_error.splitlines()[0][:200]}")
    return 0


async def _replay(letters: DeadLetters, *, ident: str | None, everything: bool) -> int:
    if everything:
        new_ids, problems = await letters.replay_all()
        print(f"replayed {len(new_ids)} dead letter(s)")
        for problem in problems:
            print(f"botburrow: not replayed: {problem}", file=sys.stderr)
        return 1 if problems else 0
    assert ident is not None
    new_id = await letters.replay(ident)
    if new_id is None:
        print(f"botburrow: no dead letter matches {ident!r}", file=sys.stderr)
        return 1
    print(f"replayed {ident} as {new_id}")
    return 0


async def _streams(redis: Redis, keys: StreamKeys, settings: Settings, *, as_json: bool) -> int:
    groups = transport_groups(keys, group=settings.streams.group, results_group=settings.streams.results_group)
    status = await transport_status(redis, keys, groups)
    for s in status.streams:
        row = {
            "stream": s.stream,
            "group": groups[s.stream],
            "length": s.length,
            "lag": s.lag,
            "pending": s.pending,
            "delayed": s.delayed,
            "consumers": s.consumers,
        }
        print(orjson.dumps(row).decode() if as_json else "  ".join(f"{k}={v}" for k, v in row.items()))
    dlq = status.dlq_size
    print(orjson.dumps({"stream": keys.dlq, "length": dlq}).decode() if as_json else f"stream={keys.dlq}  length={dlq}")
    return 0
