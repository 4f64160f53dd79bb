"""``botburrow agents validate DIR``: every agent of a definitions checkout against schema v1.

It reads no settings: DIR is an agent-definitions checkout, or a folder of agent folders.
``agents list|show|pause|resume`` are the operator's (``_operate``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import orjson
import structlog

from shared.agents import validate_directory
from shared.errors import BotburrowError
from shared.logs import configure_logging

from . import _operate


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agents = sub.add_parser("agents", help="check agent definitions; see, pause and resume agents")
    agents_sub = agents.add_subparsers(dest="action", required=True)
    validate = agents_sub.add_parser(
        "validate", help="load every agent in DIR against schema v1: one line per agent, exit 1 if any is invalid"
    )
    validate.add_argument(
        "dir", type=Path, metavar="DIR", help="an agent-definitions checkout (agents/, skills/) or a folder of agents"
    )
    validate.add_argument("--json", action="store_true", help="one JSON object per line")
    _operate.add_agent_actions(agents_sub)


def run(args: argparse.Namespace) -> int:
    """Validate every agent in DIR; 0 when all are valid, 1 when any is not, 2 when DIR holds none."""
    path, as_json = args.dir, args.json
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
