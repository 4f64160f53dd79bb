"""``botburrow sandbox exec``: one command in a fresh sandbox with the default policy.

The ``SANDBOX_*`` settings and ``DOCKER_HOST``; no credentials; no network unless
``--network granted``. It streams the command's output and exits with its exit code
(137 when killed at ``--timeout``); 2 when no sandbox can be started.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import structlog

from shared.logs import configure_logging
from shared.sandbox import exec_once
from shared.settings import Settings


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; its exit code, 137 at the timeout, 2 without a sandbox."""
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
