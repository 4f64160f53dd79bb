"""A pump on the results stream: its own group, no agent leases, the runners undisturbed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from cloudevents.http import CloudEvent

from shared import events as ev
from shared.runtime import runner_route
from shared.settings import Settings
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


async def test_an_exploration_pool_takes_discovery_and_leaves_the_inbox_streams_to_the_notification_pool(
    redis: Redis, keys: StreamKeys, pumps: Pumps
) -> None:
    """RUNNER_MODE picks the streams: the exploration pool's pump never takes a mention."""
    settings = fast_settings(keys)
    full = Settings.from_env(
        {"REDIS_URL": "redis://unused", "STREAM_PREFIX": keys.prefix, "RUNNER_MODE": "exploration"}
    )
    route = runner_route(keys, full)
    assert route.streams == (keys.activations(ev.Priority.LOW),)
    seen: list[str] = []

    async def handle(event: CloudEvent) -> None:
        seen.append(str(event["id"]))

    now = datetime.now(UTC)
    inbox = ev.activation_requested(
        agent_id="alice",
        agent_name="alice",
        kind=ev.ActivationKind.INBOX,
        requested_at=now,
        notification_ids=["n1"],
        priority=ev.Priority.HIGH,
    )
    discovery = ev.activation_requested(
        agent_id="bob",
        agent_name="bob",
        kind=ev.ActivationKind.DISCOVERY,
        requested_at=now,
        window_start=now,
        priority=ev.Priority.LOW,
    )
    await Publisher(redis).publish_many(
        [(keys.activations(ev.Priority.HIGH), inbox), (keys.activations(ev.Priority.LOW), discovery)]
    )
    await pumps.start(handle, settings=settings, concurrency=2, route=route)
    await eventually(lambda: seen == [str(discovery["id"])])
    await asyncio.sleep(0.3)  # time enough for a wrong pump to take the mention too
    assert seen == [str(discovery["id"])]
    high = await stream_status(redis, keys.activations(ev.Priority.HIGH), settings.group)
    assert high.lag == 1 and high.pending == 0  # waiting for the notification pool, not dropped


def test_each_mode_names_its_streams() -> None:
    keys = StreamKeys("p")
    routes = {
        mode: runner_route(
            keys, Settings.from_env({"REDIS_URL": "redis://x", "STREAM_PREFIX": "p", "RUNNER_MODE": mode})
        )
        for mode in ("notification", "exploration", "hybrid")
    }
    assert routes["notification"].streams == ("p:activations:high", "p:activations:normal")
    assert routes["exploration"].streams == ("p:activations:low",)
    assert routes["hybrid"].streams == ("p:activations:high", "p:activations:normal", "p:activations:low")
    assert all(r.serialise and r.group == "runners" for r in routes.values())
