"""``botburrow``: the operator's command line.

    botburrow dlq list [--limit N] [--json]
    botburrow dlq replay (--id ID | --all)
    botburrow streams [--json]
    botburrow activations list [--agent NAME] [--outcome O] [--since T] [--limit N] [--json]
    botburrow activations show ID [--attempt N] [--json]
    botburrow activations cancel ID
    botburrow agents list [--json] | show NAME [--json] | pause NAME | resume NAME
    botburrow breaker reset NAME
    botburrow consumption dead list [--limit N] [--json] | replay (--id ID | --all)
    botburrow mcp approve AGENT SERVER
    botburrow try AGENT --agents DIR [--message TEXT] [--json]
    botburrow agents validate DIR [--json]
    botburrow sync --once [--json]
    botburrow send URL --type TYPE [--source SRC] [--subject SUBJ] [--id ID]
                   [--data JSON | --data @FILE | --data @-] [--structured] [--timeout S]
    botburrow sandbox exec [--backend docker|bwrap] [--network none|granted] [--timeout S] -- CMD ARGS...

One module per command (``_streams``, ``_activations``, ``_mcp``, ``_try``, ``_agents``,
``_sync``, ``_send``, ``_sandbox``, and ``_operate`` for the operator's state and controls),
each with ``add`` (its arguments) and ``run``. Commands that need them read the settings like
the runners do (``REDIS_URL``, ``STREAM_PREFIX``, ...); ``agents validate`` and ``send`` read none.

Exit status: 0 on success; 1 when nothing matched (an unknown agent, activation or record),
an agent is invalid, a sync rejected a definition or a sent event is refused;
2 on bad usage, bad configuration, Redis errors or a URL ``send`` cannot reach.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from shared.errors import BotburrowError
from shared.settings import Settings

from . import _activations, _agents, _mcp, _operate, _sandbox, _send, _streams, _sync, _try


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="botburrow", description="Operate botburrow.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (_streams, _activations, _mcp, _try, _agents, _operate, _sync, _send, _sandbox):
        command.add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; its exit status (see the module's docstring)."""
    args = _parser().parse_args(argv)
    if args.command == "agents" and args.action == "validate":
        return _agents.run(args)
    if args.command == "send":
        return _send.run(args)
    try:
        settings = Settings.from_env()
        if args.command == "sandbox":
            return _sandbox.run(args, settings)
        if args.command == "try":
            return _try.run(args, settings)
        if args.command == "activations":
            return asyncio.run(_activations.run(args, settings))
        if args.command in ("agents", "breaker", "consumption"):
            return asyncio.run(_operate.run(args, settings))
        if args.command == "mcp":
            return asyncio.run(_mcp.run(args, settings))
        if args.command == "sync":
            return asyncio.run(_sync.run(args, settings))
        return asyncio.run(_streams.run(args, settings))
    except BotburrowError as exc:  # ConfigurationError included
        print(f"botburrow: {exc}", file=sys.stderr)
        return 2
