"""Handler factories loaded into real runner processes by the tests (``RUNNER_HANDLER``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cloudevents.http import CloudEvent

from functions.runner import noop
from shared.runtime import Runtime
from shared.streams import Handler, Outcome


@asynccontextmanager
async def slow(runtime: Runtime) -> AsyncIterator[Handler]:
    """Records starts and finishes in Redis; works ``TEST_HANDLER_SLEEP_S`` seconds."""
    sleep_s = float(os.environ.get("TEST_HANDLER_SLEEP_S", "1"))
    prefix = runtime.keys.prefix

    async def handle(event: CloudEvent) -> Outcome:
        await runtime.redis.rpush(f"{prefix}:test:started", str(event["id"]))
        await asyncio.sleep(sleep_s)
        await runtime.redis.rpush(f"{prefix}:test:finished", str(event["id"]))
        return await noop.handle(event)

    yield handle
