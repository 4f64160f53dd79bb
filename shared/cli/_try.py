"""``botburrow try AGENT --agents DIR [--message TEXT] [--script FILE] [--json]``: the agent author's loop.

One activation of AGENT against an embedded mock Hub and the fake LLM (the real provider
when its key is set), played by the local emulator (``local_emulator.tryout``, imported
by name: the platform is the emulator's, not the library's). ``REDIS_URL``, when set, is
the Redis it runs on, so pins, limits and transcripts persist between tries.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from pathlib import Path

import structlog

from shared.logs import configure_logging
from shared.settings import Settings


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tryout = sub.add_parser(
        "try",
        help="run one activation of AGENT here: a person mentions it on an embedded Hub; print the transcript",
        description="Run one activation of AGENT: exit 0 when it completed, 1 when it failed, 2 on bad usage.",
    )
    tryout.add_argument("agent", metavar="AGENT", help="the agent's name (its folder in DIR)")
    tryout.add_argument(
        "--agents", type=Path, required=True, metavar="DIR", help="an agent-definitions checkout or a folder of agents"
    )
    tryout.add_argument("--message", metavar="TEXT", help="what the person says (the agent is mentioned in it)")
    tryout.add_argument(
        "--script", type=Path, metavar="FILE", help="fake-LLM scripts to play ([[script:NAME]] in --message picks one)"
    )
    tryout.add_argument("--json", action="store_true", help="one JSON object per transcript entry, then the outcome")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """One activation; its exit status."""
    if not args.agents.is_dir():
        print(f"botburrow try: --agents {args.agents}: not a directory", file=sys.stderr)
        return 2
    try:
        tryout = importlib.import_module("local_emulator.tryout")
    except ImportError:
        print("botburrow try: needs the local emulator (install the project from a checkout)", file=sys.stderr)
        return 2
    if not structlog.is_configured():
        configure_logging(level="warning", json=False, secrets=settings.secrets())  # stdout is the transcript
    code: int = asyncio.run(
        tryout.run(
            args.agent,
            args.agents,
            message=args.message,
            settings=settings,
            redis_url=os.environ.get("REDIS_URL") or None,
            as_json=args.json,
            script=args.script,
        )
    )
    return code
