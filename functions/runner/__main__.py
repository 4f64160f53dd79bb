"""``python -m functions.runner``: consume the activation streams until SIGTERM, exit 0."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Coroutine
from typing import Any

from shared.errors import ConfigurationError
from shared.logs import configure_logging
from shared.runtime import load_factory, serve_pump
from shared.settings import Settings


def main() -> int:
    """Entrypoint; exit 0 after a drain, 2 on bad configuration."""
    try:
        settings = Settings.from_env()
        configure_logging(level=settings.log_level, json=settings.log_json, secrets=settings.secrets())
        factory = load_factory(settings.runner.handler)
    except ConfigurationError as exc:
        print(f"botburrow-runner: {exc}", file=sys.stderr)
        return 2
    # Everything imported so far lives as long as the process: keep it out of GC scans.
    gc.freeze()
    try:
        _run(serve_pump(settings, factory))
    except ConfigurationError as exc:
        print(f"botburrow-runner: {exc}", file=sys.stderr)
        return 2
    return 0


def _run(main_coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # not on every platform; asyncio's loop works, a little slower
        asyncio.run(main_coro)
    else:
        uvloop.run(main_coro)


if __name__ == "__main__":
    sys.exit(main())
