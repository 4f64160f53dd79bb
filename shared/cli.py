"""``botburrow``: the operator's command line.

    botburrow dlq list [--limit N] [--json]
    botburrow dlq replay (--id ID | --all)
    botburrow streams [--json]
    botburrow agents validate DIR [--json]
    botburrow send URL --type TYPE [--source SRC] [--subject SUBJ] [--id ID]
                   [--data JSON | --data @FILE | --data @-] [--structured] [--timeout S]
    botburrow sandbox exec [--backend docker|bwrap] [--network none|granted] [--timeout S] -- CMD ARGS...

Reads ``REDIS_URL`` and ``STREAM_PREFIX`` like the runners do (``agents`` reads no
settings: DIR is an agent-definitions checkout, or a folder of agent folders).

``send`` POSTs one CloudEvent to URL the way curl would, for scripts poking a function
or the poller: binary mode (``ce-*`` headers, the data as a JSON body) unless
``--structured`` (``application/cloudevents+json``). It prints the HTTP status and the
response body; exit 0 on a 2xx answer, 1 on any other answer, 2 when the event cannot
be built (bad ``--data`` JSON, an invalid attribute) or URL cannot be reached. It reads
no settings.

``sandbox exec`` runs one command in a fresh sandbox with the default policy (the
``SANDBOX_*`` settings, ``DOCKER_HOST``; no credentials; no network unless
``--network granted``), streams its output, and exits with the command's exit code
(137 when killed at ``--timeout``); 2 when no sandbox can be started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import structlog
from cloudevents.http import CloudEvent

from shared.agents import validate_directory
from shared.errors import BotburrowError, ConfigurationError, InvalidEvent
from shared.events import from_mapping, to_http
from shared.logs import configure_logging
from shared.sandbox import exec_once
from shared.settings import Settings
from shared.streams import DeadLetters, Redis, Scripts, StreamKeys, connect, stream_status

SEND_SOURCE = "botburrow-cli"


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
    _add_send(sub)
    _add_sandbox(sub)
    return parser


def _add_sandbox(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = sub.add_parser("sandbox", help="run commands in a sandbox")
    sandbox_sub = sandbox.add_subparsers(dest="action", required=True)
    run = sandbox_sub.add_parser(
        "exec",
        help="run one command in a fresh sandbox, stream its output, exit with its exit code",
        description="Run CMD ARGS... (an argv, not a shell string) in a fresh sandbox with the default policy.",
    )
    run.add_argument("--backend", choices=["docker", "bwrap"], help="default: SANDBOX_BACKEND (auto)")
    run.add_argument(
        "--network",
        choices=["none", "granted"],
        default="none",
        help="none: loopback only (default); granted: as for an agent holding a network grant",
    )
    run.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit (default 120 s)")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS...", help="the command")


def _add_send(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    send = sub.add_parser(
        "send",
        help="POST a CloudEvent to URL (binary mode unless --structured); print the status and the answer",
        description="POST one CloudEvent to URL, like curl. Exit 0 on 2xx, 1 on another status, 2 on bad usage.",
    )
    send.add_argument("url", metavar="URL", help="where to POST, e.g. http://127.0.0.1:8081/")
    send.add_argument("--type", required=True, dest="event_type", metavar="TYPE", help="the event type (ce-type)")
    send.add_argument("--source", default=SEND_SOURCE, metavar="SRC", help="the event source (default: %(default)s)")
    send.add_argument("--subject", metavar="SUBJ", help="the event subject (ce-subject), e.g. the agent's name")
    send.add_argument("--id", dest="event_id", metavar="ID", help="the event id (default: a random uuid4)")
    send.add_argument(
        "--data", metavar="JSON|@FILE", help="the event data as JSON, or @FILE to read it from FILE (@- reads stdin)"
    )
    send.add_argument(
        "--structured", action="store_true", help="send application/cloudevents+json instead of ce-* headers"
    )
    send.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="seconds to wait for the answer (default 10)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 on success, 1 when nothing matched, an agent is invalid or a sent event is refused.

    2 on bad usage, bad config, Redis errors or a URL ``send`` cannot reach.
    """
    args = _parser().parse_args(argv)
    if args.command == "agents":
        return _validate_agents(args.dir, as_json=args.json)
    if args.command == "send":
        return _send(args)
    try:
        settings = Settings.from_env()
        if args.command == "sandbox":
            return _sandbox_exec(args, settings)
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


def _send(args: argparse.Namespace) -> int:
    try:
        event = _event(args)
    except (ValueError, InvalidEvent) as exc:
        print(f"botburrow send: {exc}", file=sys.stderr)
        return 2
    headers, body = to_http(event, binary=not args.structured)
    try:
        response = httpx.post(args.url, headers=headers, content=body, timeout=args.timeout)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        print(f"botburrow send: {args.url!r} is not an http(s) URL: {exc}", file=sys.stderr)
        return 2
    except httpx.TimeoutException:
        print(f"botburrow send: no answer from {args.url} within {args.timeout:g} s", file=sys.stderr)
        return 2
    except httpx.TransportError as exc:
        print(f"botburrow send: cannot reach {args.url}: {exc or type(exc).__name__}", file=sys.stderr)
        return 2
    print(f"HTTP {response.status_code} {response.reason_phrase}")
    if response.text:
        print(response.text)
    return 0 if response.is_success else 1


def _event(args: argparse.Namespace) -> CloudEvent:
    """The CloudEvent ``send`` posts, checked by the same rules the functions apply to what they receive.

    Raises:
        ValueError: ``--data`` is not JSON or its file cannot be read (the message names ``--data``).
        InvalidEvent: an attribute is invalid (an empty ``--type``, say).
    """
    attrs: dict[str, Any] = {
        "specversion": "1.0",
        "id": args.event_id if args.event_id is not None else str(uuid.uuid4()),
        "source": args.source,
        "type": args.event_type,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    if args.subject is not None:
        attrs["subject"] = args.subject
    if args.data is not None:
        attrs["datacontenttype"] = "application/json"
        attrs["data"] = _data(args.data)
    return from_mapping(attrs)


def _data(raw: str) -> Any:
    """``--data``: JSON text, or ``@FILE`` / ``@-`` (stdin) holding it, as curl reads ``-d @FILE``."""
    where = "--data"
    if raw.startswith("@"):
        where = f"--data {raw}"
        try:
            raw = sys.stdin.read() if raw == "@-" else Path(raw[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{where}: cannot read it: {exc}") from exc
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from exc


def _sandbox_exec(args: argparse.Namespace, settings: Settings) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        print("botburrow sandbox exec: give the command after --, e.g. -- sh -c 'id -u'", file=sys.stderr)
        return 2
    if not structlog.is_configured():
        configure_logging(level="warning", json=False)  # the command's output is the point
    return asyncio.run(
        exec_once(
            settings.sandbox,
            argv,
            backend=args.backend,
            network=args.network == "granted",
            timeout_s=args.timeout,
        )
    )


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
