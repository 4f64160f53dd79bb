"""``python -m local_emulator.hub``: serve the mock Hub until SIGINT or SIGTERM.

Prints one line to stdout, ``mock hub serving on http://HOST:PORT``, once it accepts
connections. The webhook's signing secret comes from ``--webhook-secret`` or, better
(argv is visible to every user of the machine), ``HUB_WEBHOOK_SECRET`` in the
environment. ``--agents DIR`` registers every agent found in an agent-definitions
checkout (``agents/<name>/config.yaml``) or a folder of agent folders.

It runs on uvloop where there is one: the mock is one process of the end-to-end
benchmark, where the event loop's own cost per request counts against everyone's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
from pathlib import Path

from shared.errors import ConfigurationError
from shared.logs import configure_logging
from shared.runtime import run_on_uvloop

from ._server import MockHubServer
from ._state import DEFAULT_API_KEY, MockHub


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_emulator.hub",
        description="An in-memory Botburrow Hub (HUB-CONTRACT.md) for tests and the local emulator.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8000, help="port to bind; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument("--agents", type=Path, metavar="DIR", help="register the agents defined in DIR")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the service key (default: %(default)s)")
    parser.add_argument("--webhook-url", metavar="URL", help="POST a CloudEvent here for every new notification")
    parser.add_argument(
        "--webhook-secret",
        metavar="SECRET",
        default=os.environ.get("HUB_WEBHOOK_SECRET", ""),
        help="sign every webhook delivery (X-Hub-Signature-256) with SECRET (default: $HUB_WEBHOOK_SECRET; unsigned)",
    )
    parser.add_argument(
        "--agent-keys-file", type=Path, metavar="PATH", help="write the minted per-agent keys here as JSON {name: key}"
    )
    parser.add_argument("--enforce-limits", action="store_true", help="refuse requests past the Hub's rate limits")
    parser.add_argument("--no-long-poll", action="store_true", help="answer 404 to /notifications/poll")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def build_hub(args: argparse.Namespace) -> MockHub:
    hub = MockHub(
        api_key=args.api_key,
        enforce_limits=args.enforce_limits,
        long_poll=not args.no_long_poll,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
    )
    if args.agents is not None:
        from shared.agents import agent_names  # only when asked: the mock serves without agent definitions

        hub.add_agents(agent_names(args.agents))
    if args.agent_keys_file is not None:
        keys = {agent.name: agent.api_key for agent in hub.agents.values()}
        fd = os.open(args.agent_keys_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # keys: owner only
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(keys, indent=2) + "\n")
    return hub


async def serve(hub: MockHub, *, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with MockHubServer(hub, host=host, port=port) as server:
        print(f"mock hub serving on {server.url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(level=args.log_level, json=False, secrets=[s for s in (args.api_key, args.webhook_secret) if s])
    try:
        hub = build_hub(args)
    except (ConfigurationError, OSError) as exc:
        print(f"mock hub: {exc}", file=sys.stderr)
        return 2
    # Everything made so far lives as long as the process: keep it out of GC scans.
    gc.freeze()
    try:
        run_on_uvloop(serve(hub, host=args.host, port=args.port))
    except OSError as exc:
        print(f"mock hub: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
