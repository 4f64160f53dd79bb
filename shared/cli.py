"""``botburrow``: the operator's command line.

    botburrow dlq list [--limit N] [--json]
    botburrow dlq replay (--id ID | --all)
    botburrow streams [--json]
    botburrow agents validate DIR [--json]

Reads ``REDIS_URL`` and ``STREAM_PREFIX`` like the runners do (``agents`` reads no
settings: DIR is an agent-definitions checkout, or a folder of agent folders).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson
import structlog

from shared.agents import validate_directory
from shared.errors import BotburrowError, ConfigurationError
from shared.logs import configure_logging
from shared.settings import Settings
from shared.streams import DeadLetters, Redis, Scripts, StreamKeys, connect, stream_status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="botburrow", description="Operate botburrow's streams.")
    sub = parser.add_subparsers(dest="command", required=True)
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
    agents = sub.add_parser("agents", help="check agent definitions")
    agents_sub = agents.add_subparsers(dest="action", required=True)
    validate = agents_sub.add_parser(
        "validate", help="load every agent in DIR against schema v1: one line per agent, exit 1 if any is invalid"
    )
    validate.add_argument(
        "dir", type=Path, metavar="DIR", help="an agent-definitions checkout (agents/, skills/) or a folder of agents"
    )
    validate.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 on success, 1 when nothing matched or an agent is invalid, 2 on bad config or Redis errors."""
    args = _parser().parse_args(argv)
    if args.command == "agents":
        return _validate_agents(args.dir, as_json=args.json)
    try:
        settings = Settings.from_env()
        return asyncio.run(_dispatch(args, settings))
    except ConfigurationError as exc:
        print(f"botburrow: {exc}", file=sys.stderr)
        return 2
    except BotburrowError as exc:
        print(f"botburrow: {exc}", file=sys.stderr)
        return 2


def _validate_agents(path: Path, *, as_json: bool) -> int:
    if not structlog.is_configured():
        configure_logging(level="error", json=False)  # stdout carries the report; per-agent logs would repeat it
    try:
        report = asyncio.run(validate_directory(path))
    except BotburrowError as exc:
        print(f"botburrow: {exc}", file=sys.stderr)
        return 2
    lines = [orjson.dumps(row).decode() for row in report.rows()] if as_json else report.lines()
    print("\n".join(lines))
    return 0 if report.ok else 1


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
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
    wanted = [(s, settings.streams.group) for s in keys.activation_streams]
    wanted.append((keys.results, settings.streams.results_group))
    for stream, group in wanted:
        status = await stream_status(redis, stream, group)
        row = {
            "stream": stream,
            "group": group,
            "length": status.length,
            "lag": status.lag,
            "pending": status.pending,
            "delayed": status.delayed,
            "consumers": status.consumers,
        }
        print(orjson.dumps(row).decode() if as_json else "  ".join(f"{k}={v}" for k, v in row.items()))
    dlq = await redis.xlen(keys.dlq)
    print(orjson.dumps({"stream": keys.dlq, "length": dlq}).decode() if as_json else f"stream={keys.dlq}  length={dlq}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
