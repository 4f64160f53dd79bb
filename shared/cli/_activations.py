"""``botburrow activations list | show | cancel``: what activations did, from their transcripts; stopping one.

``list`` prints one line per recorded attempt, newest first (id, attempt, agent, kind,
started, outcome, cost), filtered by agent, outcome and start time; ``show ID`` one
attempt's transcript as a conversation, or as JSON lines; ``cancel ID`` is the
operator's (``_operate``). Reads ``REDIS_URL`` and ``STREAM_PREFIX``. Exit 0 when
something was found, 1 when nothing was (never recorded, or older than
``TRANSCRIPT_TTL_S``), 2 on a bad ``--since``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import orjson

from shared.settings import Settings
from shared.streams import StreamKeys, connect
from shared.transcripts import ActivationSummary, TranscriptStore, parse_since, render

from . import _operate


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    activations = sub.add_parser("activations", help="what activations did: their history and transcripts")
    activations_sub = activations.add_subparsers(dest="action", required=True)
    listing = activations_sub.add_parser("list", help="recorded attempts, newest first, one line each")
    listing.add_argument("--agent", metavar="NAME", help="only this agent's")
    listing.add_argument("--outcome", metavar="O", help="only this outcome (replied, failed...; running: no end yet)")
    listing.add_argument("--since", metavar="T", help="started at or after T: ISO 8601, or relative (30m, 1h, 2d)")
    listing.add_argument("--limit", type=_positive, default=50, metavar="N", help="at most N lines (default 50)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = activations_sub.add_parser("show", help="one activation's transcript: model turns, tools, Hub writes, cost")
    show.add_argument("id", metavar="ID", help="the activation's id (its event id)")
    show.add_argument("--attempt", type=int, metavar="N", help="which attempt (default: the latest)")
    show.add_argument("--json", action="store_true", help="one JSON object per line, one per transcript entry")
    _operate.add_cancel(activations_sub)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``list``, ``show`` or ``cancel`` (see ``_operate``); 1 when nothing was found."""
    if args.action == "cancel":
        return await _operate.run(args, settings)
    since = None
    if args.action == "list" and args.since:
        try:
            since = parse_since(args.since, now=datetime.now(UTC))
        except ValueError as exc:
            print(f"botburrow: --{exc}", file=sys.stderr)
            return 2
    redis = connect(settings.redis_url)
    try:
        store = TranscriptStore(redis, keys=StreamKeys(settings.streams.prefix))
        if args.action == "list":
            rows = await store.list(agent=args.agent, outcome=args.outcome, since=since, limit=args.limit)
            _print_list(rows, as_json=args.json)
            return 0 if rows else 1
        return await _show(store, args)
    finally:
        await redis.aclose()


def _print_list(rows: list[ActivationSummary], *, as_json: bool) -> None:
    if not rows:
        print("botburrow: no recorded activation matches", file=sys.stderr)
        return
    if as_json:
        for row in rows:
            print(orjson.dumps(row.as_dict()).decode())
        return
    table = [_columns(row) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        print("  ".join([*(cell.ljust(w) for cell, w in zip(line, widths, strict=False)), line[-1]]))


def _columns(row: ActivationSummary) -> list[str]:
    """id, attempt, agent, kind, started (UTC), outcome, cost."""
    return [
        row.activation_id,
        f"#{row.attempt}",
        row.agent,
        row.kind,
        row.started.strftime("%Y-%m-%d %H:%M:%SZ"),
        row.outcome or "running",
        "-" if row.cost_usd is None else f"${row.cost_usd:.4f}",
    ]


async def _show(store: TranscriptStore, args: argparse.Namespace) -> int:
    recorded = await store.load(args.id, args.attempt)
    if recorded is None:
        which = f" attempt {args.attempt}" if args.attempt else ""
        print(f"botburrow: no transcript of activation {args.id}{which}", file=sys.stderr)
        return 1
    if args.json:
        for entry in recorded.entries:
            print(orjson.dumps(entry).decode())
        return 0
    print(render(recorded.entries))
    attempts = await store.attempts(args.id)
    if len(attempts) > 1:
        print(f"(attempts recorded: {', '.join(map(str, attempts))}; --attempt N shows another)")
    return 0


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r}: at least 1")
    return value
