"""A pump on the results stream: its own group, no agent leases, the runners undisturbed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from cloudevents.http import CloudEvent

from shared import events as ev
from shared.streams import Publisher, Redis, Route, StreamKeys, stream_status
from tests.shared.streams.conftest import Pumps
from tests.support import eventually, fast_settings


def completed(agent: str, n: int) -> CloudEvent:
    return ev.activation_completed(
        activation_id=f"act-{agent}-{n}",
        agent_id=agent,
        attempt=1,
        outcome="replied",
        duration_ms=5,
        finished_at=datetime.now(UTC),
    )


async def test_a_results_pump_runs_one_agents_events_side_by_side_without_leases(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    settings = fast_settings(keys)
    running = 0
    most = 0
    seen: list[str] = []
    release = asyncio.Event()

    async def handle(event: CloudEvent) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running >= 3:
            release.set()
        await asyncio.wait_for(release.wait(), 5)
        seen.append(str(event["id"]))
        running -= 1

    # The agent's lease is held by a runner the whole time: a results pump must not care.
    await redis.set(keys.lease("alice"), "1:runner-x", px=60_000)
    events = [completed("alice", n) for n in range(3)]
    await Publisher(redis).publish_many([(keys.results, e) for e in events])
    await pumps.start(handle, settings=settings, concurrency=4, route=Route.results(keys, settings))

    async def done() -> bool:
        status = await stream_status(redis, keys.results, settings.results_group)
        return len(seen) == 3 and status.pending == 0 and status.lag == 0

    await eventually(done)
    assert most == 3  # one agent, three handlers at once: no serialisation on results
    assert sorted(seen) == sorted(str(e["id"]) for e in events)
    assert await redis.get(keys.lease("alice")) == b"1:runner-x"
    runners = await stream_status(redis, keys.activations(ev.Priority.NORMAL), settings.group)
    assert runners.length == 0
