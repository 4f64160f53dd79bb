"""``botburrow activations show ID``: one activation's transcript, as a conversation or as JSON lines.

``activations cancel ID`` is the operator's (``_operate``).

Reads ``REDIS_URL`` and ``STREAM_PREFIX``. Exit 0 when the transcript was found, 1 when
there is none (never recorded, or older than ``TRANSCRIPT_TTL_S``).
"""

from __future__ import annotations

import argparse
import sys

import orjson

from shared.settings import Settings
from shared.streams import StreamKeys, connect
from shared.transcripts import TranscriptStore, render

from . import _operate


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    activations = sub.add_parser("activations", help="what activations did: their transcripts")
    activations_sub = activations.add_subparsers(dest="action", required=True)
    show = activations_sub.add_parser("show", help="one activation's transcript: model turns, tools, Hub writes, cost")
    show.add_argument("id", metavar="ID", help="the activation's id (its event id)")
    show.add_argument("--attempt", type=int, metavar="N", help="which attempt (default: the latest)")
    show.add_argument("--json", action="store_true", help="one JSON object per line, one per transcript entry")
    _operate.add_cancel(activations_sub)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the transcript (``cancel``: see ``_operate``); 1 when there is none."""
    if args.action == "cancel":
        return await _operate.run(args, settings)
    redis = connect(settings.redis_url)
    try:
        store = TranscriptStore(redis, keys=StreamKeys(settings.streams.prefix))
        recorded = await store.load(args.id, args.attempt)
        if recorded is None:
            which = f" attempt {args.attempt}" if args.attempt else ""
            print(f"botburrow: no transcript of activation {args.id}{which}", file=sys.stderr)
            return 1
        if args.json:
            for entry in recorded.entries:
                print(orjson.dumps(entry).decode())
        else:
            print(render(recorded.entries))
            attempts = await store.attempts(args.id)
            if len(attempts) > 1:
                print(f"(attempts recorded: {', '.join(map(str, attempts))}; --attempt N shows another)")
        return 0
    finally:
        await redis.aclose()
