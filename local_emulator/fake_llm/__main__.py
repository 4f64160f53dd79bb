"""``python -m local_emulator.fake_llm``: run the fake LLM alone until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from shared.logs import configure_logging

from ._scripts import ScriptFile, load_script_file
from ._server import FakeLLMServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_emulator.fake_llm",
        description=(
            "A fake LLM serving the Anthropic Messages API (/v1/messages) and OpenAI-compatible chat "
            "completions (/v1/chat/completions). Without --script it answers every request with a plain "
            "reply in the agent's voice. Prints the URL it serves on, then runs until SIGINT or SIGTERM."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default: %(default)s)")
    parser.add_argument(
        "--script",
        type=Path,
        help="YAML or JSON file of scripts: {scripts: [{name, steps: [...]}], default: NAME}, or one script",
    )
    parser.add_argument(
        "--voices",
        action="store_true",
        help=(
            "answer in each agent's voice: a line of the system prompt's 'Voice' section, plus an @mention of "
            "one of its 'Friends' when a person wrote (the demo agents' way of talking to each other)"
        ),
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept only this key (repeatable); by default any non-empty key is accepted",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


async def _serve(server: FakeLLMServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        print(f"fake llm serving on {server.url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(level=args.log_level, json=False)
    loaded: ScriptFile | None = None
    if args.script is not None:
        try:
            loaded = load_script_file(args.script)
        except (OSError, ValueError, ValidationError, yaml.YAMLError) as exc:
            print(f"cannot load {args.script}: {exc}", file=sys.stderr)
            return 2
    server = FakeLLMServer(
        scripts=loaded.scripts if loaded else (),
        default_script=loaded.default if loaded else None,
        api_keys=args.api_keys,
        host=args.host,
        port=args.port,
        voices=args.voices,
    )
    asyncio.run(_serve(server))
    return 0


if __name__ == "__main__":
    sys.exit(main())
