"""``botburrow send``: POST one CloudEvent to a URL, the way curl would.

Binary mode (``ce-*`` headers, the data as a JSON body) unless ``--structured``
(``application/cloudevents+json``). It prints the HTTP status and the response body;
exit 0 on a 2xx answer, 1 on any other answer, 2 when the event cannot be built (bad
``--data`` JSON, an invalid attribute) or URL cannot be reached. It reads no settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cloudevents.http import CloudEvent

from shared.errors import InvalidEvent
from shared.events import from_mapping, to_http
from shared.signing import SIGNATURE_HEADER, signature

SEND_SOURCE = "botburrow-cli"


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    send = sub.add_parser(
        "send",
        help="POST a CloudEvent to URL (binary mode unless --structured); print the status and the answer",
        description="POST one CloudEvent to URL, like curl. Exit 0 on 2xx, 1 on another status, 2 on bad usage.",
    )
    send.add_argument("url", metavar="URL", help="where to POST, e.g. http://127.0.0.1:8085/ (ingest)")
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
        "--bearer-env", metavar="VAR", help="send Authorization: Bearer with the token in environment variable VAR"
    )
    send.add_argument(
        "--sign-env",
        metavar="VAR",
        help="sign the body (X-Hub-Signature-256) with the secret in environment variable VAR",
    )
    send.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="seconds to wait for the answer (default 10)"
    )


def run(args: argparse.Namespace) -> int:
    """POST the event; print the status and the answer."""
    try:
        event = _event(args)
        headers, body = to_http(event, binary=not args.structured)
        headers.update(_credentials(args, body))
    except (ValueError, InvalidEvent) as exc:
        print(f"botburrow send: {exc}", file=sys.stderr)
        return 2
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


def _credentials(args: argparse.Namespace, body: bytes) -> dict[str, str]:
    """The headers ``--bearer-env`` and ``--sign-env`` ask for.

    Raises:
        ValueError: a variable named is unset or empty (the message names it, never a value).
    """
    headers: dict[str, str] = {}
    for option, variable in (("--bearer-env", args.bearer_env), ("--sign-env", args.sign_env)):
        if variable is None:
            continue
        value = os.environ.get(variable, "").strip()
        if not value:
            raise ValueError(f"{option} {variable}: that environment variable is unset or empty")
        if option == "--bearer-env":
            headers["Authorization"] = f"Bearer {value}"
        else:
            headers[SIGNATURE_HEADER] = signature(value, body)
    return headers


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
