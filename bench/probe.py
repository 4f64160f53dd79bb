"""Handlers the benchmarks load into real runner processes via ``RUNNER_HANDLER``.

``latency`` records publish-to-handler-start per event and writes the samples to
``BENCH_LATENCY_FILE`` when the runner drains. ``effects`` works 0.2-2 s, then lands
one effect through the done-marker ledger and logs its starts for the recovery bench.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import orjson
from cloudevents.http import CloudEvent

from bench._harness import WARM_UP
from functions.runner import noop
from shared.runtime import Runtime
from shared.streams import Handler, Outcome, current_delivery


@asynccontextmanager
async def latency(runtime: Runtime) -> AsyncIterator[Handler]:
    samples: list[float] = []

    async def handle(event: CloudEvent) -> Outcome:
        started = time.time()
        if event.get_data().get("reason") != WARM_UP:
            samples.append(started - datetime.fromisoformat(str(event["time"])).timestamp())
        return await noop.handle(event)

    try:
        yield handle
    finally:
        Path(os.environ["BENCH_LATENCY_FILE"]).write_bytes(orjson.dumps(samples))


def starts_key(prefix: str) -> str:
    return f"{prefix}:bench:starts"


def effects_key(prefix: str) -> str:
    return f"{prefix}:bench:effects"


def work_seconds(event_id: str, low: float, high: float) -> float:
    """Deterministic per event, so a re-run of an event works as long as the first run."""
    return random.Random(event_id).uniform(low, high)


@asynccontextmanager
async def effects(runtime: Runtime) -> AsyncIterator[Handler]:
    low = float(os.environ.get("BENCH_WORK_MIN_S", "0.2"))
    high = float(os.environ.get("BENCH_WORK_MAX_S", "2.0"))
    prefix = runtime.keys.prefix
    pid = str(os.getpid())

    async def handle(event: CloudEvent) -> Outcome:
        event_id = str(event["id"])
        await runtime.redis.xadd(starts_key(prefix), {"event": event_id, "pid": pid, "t": repr(time.time())})
        await asyncio.sleep(work_seconds(event_id, low, high))

        def effect(pipe: object) -> None:
            pipe.xadd(effects_key(prefix), {"event": event_id, "pid": pid, "t": repr(time.time())})  # type: ignore[attr-defined]

        await runtime.ledger.once(event_id, "effect", effect, delivery=current_delivery())
        return await noop.handle(event)

    yield handle
